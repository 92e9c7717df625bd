"""Diffusion-generated training data (papers 000 and 001).

* :mod:`.views`: the relative views a generator is asked for (paper 000 Eqs. 2-3) and the
  Zero-1-to-3 pose vector;
* :mod:`.generators`: the pluggable view generator contract; :mod:`.render_generator`: the
  ``render`` stand-in; :mod:`.zero123` (+ ``_loading``, ``_preprocess``): Zero-1-to-3 on
  diffusers components;
* :mod:`.views_dataset`: generated views as a BOP dataset (``generate-views``,
  :mod:`.generate_views_cli`);
* :mod:`.train_views` (+ ``_stages``, :mod:`.instance_training`, :mod:`.merge`): per-instance
  neural meshes, merging, category training (``train-views``);
* :mod:`.controlnet` (+ ``_loading``), :mod:`.enhance_dataset`: ControlNet (canny) enhancement
  of the data engine's renders (paper 001; ``enhance-dataset``, :mod:`.enhance_cli`).

Nothing here is imported by the node: diffusers, transformers and open3d are training-only.
"""
