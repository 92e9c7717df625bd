"""Categorical Surface Embedding (paper 003): the geometric back end of the RGB-D estimator.

Pure numpy (no torch, no rclpy):

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
