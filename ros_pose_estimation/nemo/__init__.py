"""Neural mesh models (NeMo / CoKe): the neural mesh and its contrastive training loss.

* :mod:`.neural_mesh`: :class:`NeuralMesh` (cuboid or geodesic geometry, momentum-updated vertex
  features, clutter FIFO queue), :func:`cuboid_mesh`, :func:`geodesic_mesh`.
* :mod:`.contrastive`: feature sampling at projected vertices and in the background, neighbour
  exclusion masks and :func:`contrastive_loss` (paper 000 Eq. 6).
* :mod:`.model`, :mod:`.checkpoint`: a category's model and its one-file checkpoint.
* :mod:`.estimator` (with :mod:`.presets`, :mod:`.hypotheses`, :mod:`.refine` (Adam),
  :mod:`.levenberg_marquardt` with :mod:`.gauss_newton`, :mod:`.refine_state`,
  :mod:`.scoring`, :mod:`.pose_param`): render-and-compare inference. Its inputs and outputs
  (``Detection``, ``PoseEstimate``) are the estimator contract of
  :mod:`ros_pose_estimation.core.estimation`.
"""

from ros_pose_estimation.nemo.contrastive import (
    contrastive_loss,
    downsample_mask,
    image_to_feature_uv,
    neighbour_mask,
    pixel_neighbour_exclusion,
    sample_background_features,
    sample_vertex_features,
)
from ros_pose_estimation.nemo.estimator import NemoEstimator
from ros_pose_estimation.nemo.model import NemoConfig, NemoModel
from ros_pose_estimation.nemo.neural_mesh import NeuralMesh, cuboid_mesh, geodesic_mesh
from ros_pose_estimation.nemo.presets import InferenceConfig

__all__ = [
    "InferenceConfig",
    "NemoConfig",
    "NemoEstimator",
    "NemoModel",
    "NeuralMesh",
    "contrastive_loss",
    "cuboid_mesh",
    "downsample_mask",
    "geodesic_mesh",
    "image_to_feature_uv",
    "neighbour_mask",
    "pixel_neighbour_exclusion",
    "sample_background_features",
    "sample_vertex_features",
]
