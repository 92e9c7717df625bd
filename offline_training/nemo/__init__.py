"""NeMo trainer on BOP-format labelled data (the data engine's output).

* :mod:`.data`: :class:`NemoTrainingSet` (object-centred crops with their own intrinsics) and
  :class:`StepBatchSampler` (batches that depend on the step only: exact resume).
* :mod:`.augment`: :class:`AugmentConfig` and label-preserving augmentations (colour jitter,
  background paste, crop box jitter, exact in-plane camera rotation).
* :mod:`.train`: :class:`TrainConfig` and :func:`train`; :mod:`.train_cli` is ``train-nemo``.

Importing this package does not import the heavy submodules.
"""
