"""NeMo trainer on BOP-format labelled data (the data engine's output).

* :mod:`.data`: :class:`NemoTrainingSet` (object-centred crops with their own intrinsics; the
  batches come from :class:`offline_training.train_loop.StepBatchSampler`, a function of the
  step only: exact resume).
* :mod:`.augment`: :class:`AugmentConfig` and label-preserving augmentations (colour jitter,
  background paste, crop box jitter, exact in-plane camera rotation).
* :mod:`.train`: :func:`train` (settings :class:`~.train_config.TrainConfig`, one step
  :mod:`.train_step`); :mod:`.train_cli` is ``train-nemo``; :mod:`.evaluate` is
  ``evaluate-nemo``.

Importing this package does not import the heavy submodules.
"""
