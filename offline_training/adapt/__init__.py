"""Adapting a synthetic-trained model to a target domain (paper 001 CC3D; issue #16).

:mod:`.loop` (the shared EM loop and its report), :mod:`.cc3d` (pseudo-labels by Eq. 6),
:mod:`.supervised` (the ground-truth upper bound), :mod:`.pseudo_labels`, :mod:`.bop_export`,
:mod:`.finetune`; the command is :mod:`.cli` (``adapt-nemo``).
"""
