"""One representative pose for symmetric categories (what the estimator outputs).

For a category symmetric about model axis ``a`` (bottle, bowl, can: +z) every rotation
``R Rot(a, phi)`` describes the same object; correspondences pick one of them arbitrarily and
it would jump between frames. :func:`canonical_rotation` returns the member of that family
whose model x axis, seen in the camera, is as close as possible to the camera's +x (the model x
axis is then the camera x axis projected onto the plane orthogonal to ``R a``; when ``R a`` is
nearly parallel to camera x, camera y is used instead). For a finite symmetry group (box) it
returns the member ``R S`` whose model z axis points most upwards in the image (camera -y), and
of those the one whose model x axis points most to the image's right (camera +x): a box on a
table keeps z up, as the frame convention has it for an object in its resting pose, and NeMo's
hypotheses (upright views) contain that member. Asymmetric categories are returned unchanged.
Metrics are symmetry-aware anyway (:mod:`ros_pose_estimation.core.metrics`).
"""

from __future__ import annotations

import numpy as np

from ros_pose_estimation.core.categories import Category, get_category
from ros_pose_estimation.core.errors import InputError, check_shape
from ros_pose_estimation.core.rotations import axis_angle_to_matrix


def canonical_rotation(R: np.ndarray, category: Category | str) -> np.ndarray:
    """``[3 x 3]`` rotation model -> camera, canonicalised over the category's symmetries."""
    rot = np.asarray(R, dtype=np.float64)
    check_shape("R", rot, (3, 3))
    if not np.all(np.isfinite(rot)):
        raise InputError("R: expected finite values, got NaN or inf")
    cat = get_category(category) if isinstance(category, str) else category
    if len(cat.continuous_axes):
        a = np.asarray(cat.continuous_axes[0], dtype=np.float64)
        a = a / np.linalg.norm(a)
        axis_cam = rot @ a
        ref = np.array([1.0, 0.0, 0.0])
        if abs(axis_cam @ ref) > 0.9:
            ref = np.array([0.0, 1.0, 0.0])
        want = ref - (ref @ axis_cam) * axis_cam  # desired camera direction of a model vector
        want /= np.linalg.norm(want)
        # model vector orthogonal to a that the rotation about a should bring onto `want`
        x0 = np.array([1.0, 0.0, 0.0]) if abs(a[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
        x0 = x0 - (x0 @ a) * a
        x0 /= np.linalg.norm(x0)
        cur = rot @ x0
        phi = np.arctan2(np.cross(cur, want) @ axis_cam, cur @ want)
        return rot @ axis_angle_to_matrix(a * phi)
    group = np.asarray(cat.discrete, dtype=np.float64)
    if len(group) > 1:
        candidates = rot[None] @ group
        up = -candidates[:, 1, 2]  # model z in the camera, its upward (-y) component
        right = candidates[:, 0, 0]  # model x in the camera, its x component
        best = max(range(len(group)), key=lambda i: (up[i], right[i]))
        return candidates[best]
    return rot
