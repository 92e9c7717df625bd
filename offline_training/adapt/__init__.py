"""Adapting a synthetic-trained model to a target domain (papers 001 CC3D and 002 NVSM;
issue #16).

:mod:`.loop` (the shared EM loop and its report), :mod:`.cc3d` (pseudo-labels by Eq. 6),
:mod:`.nvsm` (few-shot: pseudo-labels matched to views synthesized from annotated anchors,
:mod:`.view_synthesis`, anchor files :mod:`.anchors`), :mod:`.supervised` (the ground-truth
upper bound), :mod:`.pseudo_labels`, :mod:`.bop_export`, :mod:`.finetune`; the command is
:mod:`.cli` (``adapt-nemo``).
"""
