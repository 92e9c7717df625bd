"""Categorical Surface Embedding (paper 003): the RGB-D category-level pose estimator.

Network and inference (torch; import the submodules, this package stays numpy-only):

* :mod:`.model`: :class:`~.model.CseConfig`, :class:`~.model.CseModel` (ResNet encoder +
  stride-4 decoder, pose/shape heads, template deformation, PointNet surface embedding);
  :mod:`.pointnet`, :mod:`.template` (category shape prior simplified to ~600 vertices).
* :mod:`.correspondence`: Eq. 1-2 correspondence matrices and mappings, Eq. 7 confidence.
* :mod:`.checkpoint`: one-file checkpoints (``weights_only``, strict, versioned).
* :mod:`.estimator`: :class:`~.estimator.CseEstimator` (crop, mask or box + depth pixels,
  correspondences, RANSAC + Umeyama, ICP refinement, metric size) with :mod:`.pixels`
  (depth units, object cells), :mod:`.refine` and :mod:`.symmetry` (canonical output rotation).

Geometric back end, pure numpy (no torch, no rclpy):

* :mod:`.umeyama`: weighted similarity transform :func:`umeyama` (Umeyama 1991, det R = +1) and
  :func:`umeyama_batched` (``B`` problems at once, for RANSAC hypotheses).
* :mod:`.ransac`: :func:`ransac_similarity` -> :class:`RansacResult` (100 iterations published,
  adaptive early stop, refit on the inliers).
* :mod:`.solve`: :func:`pose_from_correspondences` (confidence filter > 0.5, depth lookup,
  back-projection, RANSAC + Umeyama) -> :class:`CsePose`, and :func:`depth_at`.
"""

from ros_pose_estimation.cse.ransac import DEFAULT_RANSAC, RansacResult, ransac_similarity
from ros_pose_estimation.cse.solve import CsePose, depth_at, pose_from_correspondences
from ros_pose_estimation.cse.umeyama import umeyama, umeyama_batched

__all__ = [
    "DEFAULT_RANSAC",
    "CsePose",
    "RansacResult",
    "depth_at",
    "pose_from_correspondences",
    "ransac_similarity",
    "umeyama",
    "umeyama_batched",
]
