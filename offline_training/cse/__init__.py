"""CSE (paper 003) trainer and evaluation on BOP-format RGB-D sequences (the data engine's output).

* :mod:`.data`: :class:`CseSequenceSet` (two frames of an object track, crops, depth, masks,
  cross-time 2D pairs from depth + camera motion; pose labels only when asked).
* :mod:`.losses`: the self-supervised losses (Eqs. 3-6, regularisers) and the labelled terms.
* :mod:`.train` / :mod:`.train_cli` (``train-cse``): the trainer; :mod:`.evaluate`
  (``evaluate-cse``): held-out evaluation with JSON output.

Importing this package does not import the heavy submodules.
"""
