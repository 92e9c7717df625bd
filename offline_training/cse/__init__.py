"""CSE (paper 003) trainer and evaluation on BOP-format RGB-D sequences (the data engine's output).

* :mod:`.data`: :class:`CseSequenceSet` (two frames of an object track, crops, depth, masks,
  cross-time 2D pairs from depth + camera motion; pose labels only when asked).
* :mod:`.losses`: the self-supervised losses (Eqs. 3-6, regularisers) and the labelled terms.
* :mod:`.dino` / :mod:`.instance_pairs`: a frozen DINO ViT (weights from a local file) and the
  mutual-nearest-neighbour 2D pairs of the opt-in cross-instance cycle.
* :mod:`.train` (with :mod:`.train_step`, the losses of a step) / :mod:`.train_cli`
  (``train-cse``): the trainer; :mod:`.evaluate` (``evaluate-cse``): held-out evaluation with
  JSON output; :mod:`.diagnose` (``diagnose-cse``) and :mod:`.oracle`: frame checks with the
  ground truth through the same back end.

Importing this package does not import the heavy submodules.
"""
