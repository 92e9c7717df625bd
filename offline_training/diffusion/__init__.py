"""Diffusion-generated training data (papers 000 and 001).

* :mod:`.views`: the relative views a generator is asked for (paper 000 Eqs. 2-3) and the
  Zero-1-to-3 pose vector;
* :mod:`.generators`: the pluggable view generator contract, and the ``render`` stand-in;
* :mod:`.zero123`: the Zero-1-to-3 view generator on diffusers components;
* :mod:`.controlnet`: ControlNet (canny) enhancement of the data engine's renders (paper 001).

Nothing here is imported by the node: diffusers, transformers and open3d are training-only.
"""
