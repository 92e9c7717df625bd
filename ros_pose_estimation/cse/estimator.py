"""RGB-D category-level pose by Categorical Surface Embedding + Umeyama (paper 003, inference).

    estimator = CseEstimator.from_checkpoints(["mug_cse.pt"])
    poses = estimator.estimate(rgb, [Detection("mug", box, mask)], intrinsics, depth)

Per detection: a square crop (``crop_scale`` x the box's longer side, resized to
``crop_size``; it carries its own intrinsics) of the colour image, the depth (nearest
neighbour) and the object mask (the detection's, less its pixels off the object's depth and, at its
rim, on the surface around it, ``mask_depth_band`` / ``mask_support_plane``: a detector's mask
spills past the object's edge; else the box's pixels at the object's depth,
:func:`.pixels.box_depth_mask`, above the supporting surface,
:func:`.pixels.remove_support_plane`); one batched forward per category gives pixel features
and the deformed template's vertex embeddings; on the object's feature cells Eq. 1-2 give each
cell's 3D template point and Eq. 7 its confidence; cells with confidence above
``min_confidence`` and valid depth are back-projected with the crop intrinsics, and RANSAC +
weighted Umeyama (:func:`.solve.pose_from_correspondences`) gives ``x_cam = s R x_model + t``
(``R diag(s) x_model + t``, one scale per axis, for a ``per_axis_scale`` model:
:mod:`.axis_scale`);
optionally a few ICP steps refine it (:mod:`.refine`); a mug is then turned about its body's
axis to fit its handle cells, a laptop about its hinge axis to fit its base cells
(:mod:`.parts`); last, the model's viewpoint bias correction, when it has one, turns the
rotation and moves the box centre (:mod:`ros_pose_estimation.core.view_correction`). The
call is the estimator contract of :mod:`ros_pose_estimation.core.estimation` (the RGB
estimator's), with ``needs_depth``; output:
:class:`~ros_pose_estimation.core.estimation.PoseEstimate` with the metric ``size`` = the
deformed template's extents x ``s``, ``t`` = the centre of that box, ``score`` = the
confidence-weighted RANSAC inlier count over the object's cells (the inlier fraction without
weighting), ``loss`` = the inliers' RMS residual (m), ``steps`` = 0 and ``converged`` = True
(no iterative optimisation).

Depth: ``16UC1`` (uint16 mm) or ``32FC1`` (float32 m), registered to the colour image (same
size and intrinsics); zeros and NaNs are ignored. Pure core (no rclpy).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import torch

from ros_pose_estimation.core.batching import sync_device
from ros_pose_estimation.core.box_consistency import box_coverage, projected_box
from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.categories import get_category, order_horizontal_extents
from ros_pose_estimation.core.category_estimator import CategoryEstimator
from ros_pose_estimation.core.crops import crop_inputs, detection_crop
from ros_pose_estimation.core.errors import (
    ConfigError,
    DepthError,
    EstimationError,
    InputError,
)
from ros_pose_estimation.core.estimation import Detection, PoseEstimate, check_inputs
from ros_pose_estimation.core.standing import check_up, stand_all_on_gravity
from ros_pose_estimation.core.upright import UPRIGHT_KEEP, gravity_look, second_look

from .axis_scale import MIN_AXIS_SHARE, floor_axis_scales
from .box_faces import box_from_faces
from .checkpoint import load_checkpoint
from .correspondence import cell_centres, masked_points, pixel_embeddings
from .depth_noise import depth_noise
from .handle_depth import handle_turn
from .laptop_planes import (
    front_from_rest,
    laptop_box,
    laptop_screen_box,
    laptop_slabs,
    screen_plane,
)
from .model import CseModel
from .parts import BASE_CATEGORIES, HANDLE_CATEGORIES, base_pitch, handle_azimuth
from .pixels import (
    box_depth_layers,
    cell_mask_and_depth,
    depth_metres,
    inside_box,
    mask_depth_band,
    mask_rim,
    object_points,
    off_surface,
    remove_below_plane,
    split_at_depth_jumps,
    support_plane,
)
from .refine import icp_similarity
from .revolution import width_from_box
from .solve import pose_from_correspondences
from .sparse_depth import pose_from_image
from .support import clip_to_support, height_from_support, rest_axis_up, stand_upright
from .symmetry import canonical_rotation

#: Categories whose pose and extents ``box_faces`` measures from their flat faces.
FACE_CATEGORIES = frozenset({"box"})
#: Categories whose box the depth steps measure themselves (the laptop's slabs, the box's
#: faces): ``height_from_support`` leaves them alone.
OWN_BOX_CATEGORIES = FACE_CATEGORIES | BASE_CATEGORIES
#: Bodies of revolution whose width ``width_from_box`` takes from the detection box (the can
#: not: its solved width was right, and the box made it 1.10x on the validation set).
REVOLUTION_CATEGORIES = frozenset({"bottle", "bowl"})


def _depth_noise(depth_m: np.ndarray, det: Detection) -> float | None:
    """The depth noise (m, :func:`.depth_noise.depth_noise`) over the detection's mask, or its
    box without one."""
    if det.mask is not None:
        return depth_noise(depth_m, det.mask)
    h, w = depth_m.shape
    x0, y0, x1, y1 = np.round(np.asarray(det.box_xyxy, dtype=np.float64)).astype(int)
    inside = depth_m[max(y0, 0):max(min(y1, h), 0), max(x0, 0):max(min(x1, w), 0)]
    return depth_noise(inside, np.ones(inside.shape, dtype=bool))


def _solved_object_points(depth_m, det: Detection, intrinsics, est: PoseEstimate) -> np.ndarray:
    """``[N x 3]`` the detection's depth pixels (camera frame, m): the mask's, or, without one,
    the box's that lie inside the solved object's box (:func:`.pixels.inside_box`)."""
    pts = object_points(depth_m, det.box_xyxy, det.mask, intrinsics)
    return pts if det.mask is not None else inside_box(pts, est.R, est.t, est.size)


#: Categories whose box-only depth layers are not cut at depth steps (``box_depth_jump``).
#: The mug's and the bowl's inside, seen over the rim, is a piece of its own that the cut
#: drops (validation sets, box-only: mug IoU50 0.93 -> 0.63, bowl 0.90 -> 0.84 at 640x480);
#: the camera gained nothing (IoU50 0.86 -> 0.82 and 0.91 -> 0.93). BENCHMARKS "Box-only
#: detections beside a neighbour".
DEPTH_JUMP_KEPT = frozenset({"mug", "bowl", "camera"})

#: The rim of a mask whose pixels on the table are dropped (``mask_support_plane``), as a share
#: of the detection box's longer side: about one cell of a 28 x 28 mask head (Mask R-CNN's),
#: the usual size of a detector mask's error at the object's edge.
MASK_RIM_SHARE = 1.0 / 28.0
#: Categories whose masks keep their pixels on the table by default: the box's faces measure
#: the box from its pixels near the table, and dropping them cost it more on exact masks
#: (validation sets: 5deg2cm 0.83 -> 0.80, 0.54 -> 0.44) than it gained on spilled ones
#: (BENCHMARKS "A mask that spills onto the background").
MASK_ON_SURFACE_KEPT = frozenset({"box"})

#: Stages timed per call (ms): crop, network forward, correspondences + confidence, RANSAC.
STAGES = ("crop", "features", "correspondence", "solve", "total")


@dataclass
class CseInferenceConfig:
    """Inference settings (published where stated, ``shared/notes/methods.md``).

    Attributes:
        min_confidence: keep cells with Eq. 7 confidence above this (published 0.5; 0.3 here:
            with the ICP below, more cells help more than cleaner ones, BENCHMARKS "RGB-D").
        sigma_cells: width of the Eq. 7 confidence (feature cells).
        min_mask_fraction: a feature cell is on the object when this fraction of its pixels is.
        ransac_iterations: RANSAC hypotheses (published 100).
        inlier_threshold: RANSAC inlier distance and ICP pair bound (m; 5 cm, chosen on the
            seven validation sets among 2-10 cm: the soft correspondences scatter by 1-2 cm
            and a tighter gate drops good cells, most for large objects such as boxes; 10 cm
            lets background pixels in when there is no mask; BENCHMARKS "Inlier distance").
        weight_by_confidence: weight RANSAC scores and refits by the confidence.
        icp_steps: similarity-ICP refinement steps after RANSAC (0: off), :mod:`.refine`;
            20 halves the rotation error of the CPU-trained models (mug 15 -> 7 deg).
        icp_axis_scales: for a ``per_axis_scale`` model, ICP refits the three scales too
            (the default: soft correspondences shrink the RANSAC box, ICP grows it back; off:
            it moves ``R``, ``t`` only, exact with exact correspondences; BENCHMARKS "RGB-D
            box" compares the two).
        box_depth_band: object depth band without a mask (fraction of the box's metric size).
        box_depth_jump: without a mask, each depth layer of the box is cut where the depth
            between neighbouring pixels steps by more than this share of the depth, and only
            the pieces that reach the box's centre are kept
            (:func:`.pixels.split_at_depth_jumps`): a neighbour beside the object at a similar
            depth lies in the band too. Not for the categories in ``DEPTH_JUMP_KEPT``. 0: off.
        mask_depth_band: with a mask, its pixels whose depth lies further than this fraction
            of the box's metric size from the mask's median depth are dropped
            (:func:`.pixels.mask_depth_band`): a detector's mask spills past the object's edge,
            and the background's depth there pulls the solve and the box (0: the mask as
            given; BENCHMARKS "A mask that spills onto the background").
        mask_support_plane: with a mask, the pixels of its rim (``MASK_RIM_SHARE`` of the
            box's longer side from its edge) that lie on the surface around the detection are
            dropped too (:func:`.pixels.remove_below_plane`, as without a mask): the spill
            next to the object's foot is the table, at the object's depth. None: on for every
            category but those in ``MASK_ON_SURFACE_KEPT``.
        box_layers: without a mask, how many depth layers of the box to try
            (:func:`.pixels.box_depth_layers`: the band around the box centre's depth, then
            around the depths of the pixels left): each is solved, and of the poses whose
            proportions are plausible (``box_layer_max_distortion``) the one with the most
            confidence-weighted inliers is kept, so that something in front of the object
            that covers the box's centre is not taken for it. 1: the centre's layer only.
            None: each model's ``box_layers`` (chosen per category on validation data and
            stored at export; BENCHMARKS "Box-only detections behind an occluder"), else 1.
        box_layer_max_distortion: a layer's pose is plausible when its extents, divided by
            the template's axis by axis, differ by at most this factor (a flat occluder fits
            with one extent collapsed); when no layer is plausible, all compete. Only
            ``per_axis_scale`` models measure proportions; for the others every pose passes.
        min_axis_share: for a ``per_axis_scale`` model, no axis's scale below this share of
            the geometric mean of the other two; the box grows away from the camera (a camera
            seen along its lens gives the solve no extent along x, and the solve shrinks it:
            :func:`.axis_scale.floor_axis_scales`). None: the category's value in
            :data:`.axis_scale.MIN_AXIS_SHARE` (camera 0.6, chosen on its validation sets;
            others none); 0: off.
        box_support_plane: without a mask, also drop the pixels of the surface the object stands
            on (:func:`.pixels.remove_support_plane`; off: the depth band only; BENCHMARKS
            "RGB-D" measures box-only detections with and without it).
        handle_azimuth: for a mug, turn the solved pose about the body's axis so that the
            cells on the handle fit (:mod:`.parts`: the body's many cells otherwise
            outvote the few that fix the azimuth); off: the pose of RANSAC + ICP.
        handle_min_cells: fewer confident handle cells with depth (a hidden handle): no turn
            (2 chosen on the mug validation set among 1, 2, 3, 5, 8; BENCHMARKS "The mug's
            azimuth from its handle").
        handle_depth: for a mug, after everything else, turn the pose about the body's axis
            to where the depth pixels stand out of the body (:mod:`.handle_depth`: the handle
            without the network; the pixels are the box's, see ``handle_depth_box``); off: as
            before.
        handle_depth_box: with a mask, the handle step looks at the detection box's depth
            pixels inside the solved box (:func:`.pixels.inside_box`), not at the mask's: a
            mask a few pixels short of the object's edge loses the thin handle (a mask eroded
            by 3 px: 10deg5cm 0.64 -> 0.73 on the 640x480 validation set, exact masks
            unchanged; BENCHMARKS "A mask short of the mug's handle"). Off: the mask's
            pixels.
        handle_depth_margin, handle_depth_min_points, handle_depth_window_deg,
        handle_depth_min_turn_deg, handle_depth_sink: its pixels lie farther than ``1 +
            margin`` body radii from the axis; fewer than ``min_points``: no turn; only within
            ``window_deg`` of the current handle side; a turn under ``min_turn_deg`` is not
            made; each pixel first moved ``sink`` body radii along its ray (the handle's near
            side -> its middle). Chosen on two mug validation sets (320x240 and 640x480) among
            margins 0.15 / 0.25 / 0.4, 4 / 8 / 16 pixels, windows 60 / 90 / 180 deg, minimum
            turns 0 / 5 / 10 / 15 deg and sinks 0 / 0.1 / 0.15 / 0.2 / 0.3 (BENCHMARKS "The
            mug's handle in the depth image"); ``min_points`` again for the bundled mug of
            today among 2-12 pixels: 2 (BENCHMARKS "The mug's handle: two pixels are enough").
        laptop_planes: for a laptop, after everything else, take the rotation from the
            planes of its base and screen in the depth pixels (:mod:`.laptop_planes`: z the
            base's normal, y the hinge where the screen is seen, else x snapped to the base's
            outline); ``plane_threshold``: the planes' inlier distance (m; 6 mm chosen
            on two laptop validation sets against 4 and 8, BENCHMARKS "The laptop's slabs");
            ``laptop_box``: where both slabs are seen, the box centre and size measured from
            the slabs' pixels (those within ``plane_threshold`` of the two planes) in that
            frame too (:func:`.laptop_planes.laptop_box`); ``laptop_screen_box``: where the
            screen alone is seen on the surface (from behind), the box from the screen: its
            lean, top and width, the base as deep as the screen is long
            (:func:`.laptop_planes.laptop_screen_box`, BENCHMARKS "A laptop seen from behind");
            ``laptop_front_from_rest``: before that, with a mask, the laptop is turned round
            when its pixels off the screen lie behind it (the base no plane was found in:
            :func:`.laptop_planes.front_from_rest`);
            ``laptop_on_surface``: with the surface the laptop stands on, the base is the
            lower slab along its normal, a base within 25 deg of it takes that normal as z
            (BENCHMARKS "A far laptop: the table's normal over the base's"), and a slab too far
            from the solved z is still used: the base if it lies on the surface, else the
            screen alone with z the surface's normal (:mod:`.laptop_planes` steps 2 and 5). The
            surface is level under the world's ``up`` when :meth:`CseEstimator.estimate` is
            given it (chosen on the laptop calibration set: BENCHMARKS "Gravity for the
            laptop's slabs"), else the one around the detection (as ``upright_on_support``
            finds it).
        box_faces: for a box, after everything else, take the rotation from its flat faces
            in the depth pixels and the extents and centre from the pixels' spread on them
            (:mod:`.box_faces`; planes within ``plane_threshold``; a side seen alone: the
            depth behind it at least half what the template's proportions give; with
            ``upright_on_support``, the faces' axis nearest the surface's normal laid on it,
            BENCHMARKS "A far box"), then put the longer horizontal edge on x again.
        box_noise: with ``box_faces``, measure the depth noise over the detection
            (:mod:`.depth_noise`) and allow for the spread it adds to the faces' extents
            when the top face's height over the surface is checked against them
            (``box_faces.NOISE_SPREAD``; BENCHMARKS "A far box's top through the noise").
        upright_on_support: before the steps above, turn every object whose solved z is within
            ``upright_on_support_deg`` of the normal of the surface around its detection
            (:func:`.pixels.support_plane`) so that it stands upright on it
            (:mod:`.support`; a tabletop prior: objects in their natural resting pose. Turn it
            off for piles, tilted or hand-held objects: anything tilted by more than the
            angle is left alone, anything tilted by less is stood up).
        stand_on_gravity: when the caller gives ``up`` (gravity, e.g. from /tf), after every
            step, stand each object whose z is within ``upright_on_support_deg`` of it upright
            on it (a box first relabelled so that its axis nearest ``up`` is z;
            :func:`ros_pose_estimation.core.standing.stand_on_gravity`): where no surface was
            found around the detection (its depth beyond the sensor's range, the table hidden)
            or the plane found was not the table, gravity still stands the object on a level
            surface (a tabletop prior, as ``upright_on_support``).
        support_max_threshold: the surface around a detection (used by the steps above, the
            box's top height and box-only detections) is fitted within 6 mm; where no plane
            holds enough of its pixels, the band is doubled up to this (m): depth noise grows
            with the square of the distance (~1.6 cm at 3 m for a Kinect-class sensor). 0.048
            (three doublings) chosen on the box and laptop validation sets against 0.024, and
            no change on the other five (BENCHMARKS "A far table"); 0.006 turns it off.
        box_rest_face: with ``upright_on_support``, first relabel a box's axes so that the one
            within ``box_rest_face_deg`` of the surface's normal is z (:func:`.support.
            rest_axis_up`: a box rests on any face, and its frame calls the vertical axis z).
        clip_to_support: with ``upright_on_support``, cut an upright object's box at the
            surface when its bottom lies below it, the top kept (:func:`.support.
            clip_to_support`; chosen on the validation sets of all seven categories, BENCHMARKS
            "Nothing reaches below the table").
        height_from_support: with ``upright_on_support``, an object stood upright on the
            surface (not the laptop or the box, whose slabs and faces measure their own box)
            reaches from it to the top of its depth pixels (:func:`.support.
            height_from_support`, their 99th percentile of height): the solve's per-axis
            scale comes out a few percent short (the camera's 7-12 %). The view correction's
            size part then leaves that height alone (BENCHMARKS "Standing on the table: the
            height from the top").
        width_from_box: for a bottle or bowl, widen the solved horizontal extents to the
            detection box's width at the centre's depth when that is wider, up to 1.5x
            (:mod:`.revolution`; chosen on the validation sets, BENCHMARKS "A body of
            revolution's width").
        base_pitch: for a laptop, turn the solved rotation about the hinge axis (model y) to
            fit the cells of the base slab (:mod:`.parts`: a rigid fit of base and screen tilts
            the base by a compromise when the screen's opening differs from the template's);
            the box centre stays that of the full fit (chosen on the validation set: moving it
            with the turn put it farther from the truth).
        base_min_cells: fewer confident base cells with depth: no turn (not tuned).
        canonical_symmetry: output one representative rotation for symmetric categories.
        upright: look at an object that stands rolled by more than ``upright_min_deg`` in
            the image (a camera turned about its axis) through the camera turned so that it
            stands upright: by gravity when the caller gives ``up``, else by a first look
            (:mod:`ros_pose_estimation.core.upright`); ``upright_keep``, ``upright_looks``:
            which look is kept, how many (as NeMo's :class:`~ros_pose_estimation.nemo.presets.
            InferenceConfig`). 25 deg, not NeMo's 15: with depth the first look is good up to
            a 30-deg roll, and a look at a natural 15-20 deg lean changed the camera's median
            by 0.2-0.4 deg on a trial (BENCHMARKS "A camera mounted with a roll").
        view_correction: turn the final rotation, move the box centre and (after the depth
            steps) scale the box's extents by the model's
            viewpoint bias correction when its checkpoint has one
            (:mod:`ros_pose_estimation.core.view_correction`, fitted by ``calibrate-cse``),
            except a height measured from the surface (``height_from_support``, a box's top
            over it); False gives the pose of the solve alone.
        tau: softmax temperature of Eq. 1 at inference for every model (None: each model's
            ``inference_tau``, else its training ``tau``, 0.1 published). A lower one commits
            each cell to one region of the template rather than averaging several (a symmetric
            box's equivalent faces, a bowl's inside and outside): five bundled models carry
            0.05, chosen on validation sets (BENCHMARKS "Inference temperature").
        min_points: fewer usable cells -> the detection fails (EstimationError).
        image_pose, image_pose_cells: when too few confident cells have depth (a black or
            glossy surface, an object beyond the sensor's range), solve by PnP on the
            confident cells alone, scaled by the depth there is (:mod:`.sparse_depth`;
            RANSAC inlier distance ``image_pose_cells`` feature cells); the estimate's
            ``warning`` says so. False: such a detection fails as before.
        image_pose_size_prior: with no depth on the object at all, scale that pose by the
            template's (the category's typical) size rather than fail: at a few metres the
            distance is then tens of cm off (BENCHMARKS "Too little depth"), so off by
            default.
        dark_surface_share: a box-only detection whose box's depth pixels lie on the support
            surface at least this share holds an object the sensor did not see (dark, glossy):
            its pixels are taken as the box's holes and what stands up
            (:func:`.pixels.off_surface`) and, with ``image_pose``, solved from the image.
            1 (the default): never; 0.7 (the best on the validation sets) for a robot whose
            objects are dark or glossy and whose detector gives boxes only: on the held-out
            bags it took a few normal objects for dark ones (BENCHMARKS "Dark objects under
            box-only detections").
        min_box_cover: refuse an estimate whose 3D box, projected into the image, covers less
            than this share of its detection box (:mod:`ros_pose_estimation.core.
            box_consistency`; a dark or glossy object's box-only depth is the table's, and the
            solve is confident and wrong; 0.5 chosen on the validation sets and the bags,
            BENCHMARKS "A box that does not agree with its detection"). 0: no check.
        seed: RANSAC seed (deterministic results).
    """

    min_confidence: float = 0.3
    sigma_cells: float = 1.5
    min_mask_fraction: float = 0.5
    ransac_iterations: int = 100
    inlier_threshold: float = 0.05
    weight_by_confidence: bool = True
    icp_steps: int = 20
    icp_axis_scales: bool = True
    box_depth_band: float = 0.6
    box_depth_jump: float = 0.02
    mask_depth_band: float = 1.0
    mask_support_plane: bool | None = None
    box_layers: int | None = None
    box_layer_max_distortion: float = 2.0
    min_axis_share: float | None = None
    box_support_plane: bool = True
    handle_azimuth: bool = True
    handle_min_cells: int = 2
    handle_depth: bool = True
    handle_depth_margin: float = 0.25
    handle_depth_min_points: int = 2
    handle_depth_window_deg: float = 180.0
    handle_depth_min_turn_deg: float = 0.0
    handle_depth_sink: float = 0.1
    handle_depth_box: bool = True
    laptop_planes: bool = True
    plane_threshold: float = 0.006
    laptop_box: bool = True
    laptop_screen_box: bool = True
    laptop_front_from_rest: bool = True
    laptop_on_surface: bool = True
    box_faces: bool = True
    box_noise: bool = True
    upright_on_support: bool = True
    support_max_threshold: float = 0.048
    upright_on_support_deg: float = 15.0
    stand_on_gravity: bool = True
    box_rest_face: bool = True
    clip_to_support: bool = True
    height_from_support: bool = True
    width_from_box: bool = True
    box_rest_face_deg: float = 15.0
    base_pitch: bool = True
    base_min_cells: int = 8
    canonical_symmetry: bool = True
    view_correction: bool = True
    upright: bool = True
    upright_min_deg: float = 25.0
    upright_keep: str = "lower_loss"
    upright_looks: int = 1
    min_points: int = 8
    image_pose: bool = True
    image_pose_cells: float = 1.0
    image_pose_size_prior: bool = False
    dark_surface_share: float = 1.0
    min_box_cover: float = 0.5
    seed: int = 0
    tau: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_confidence < 1.0 or self.sigma_cells <= 0:
            raise ConfigError(
                f"need 0 <= min_confidence < 1 and sigma_cells > 0, got {self.min_confidence}, "
                f"{self.sigma_cells}"
            )
        if self.min_axis_share is not None and not 0.0 <= self.min_axis_share <= 1.0:
            raise ConfigError(f"min_axis_share must lie in [0, 1] (or None: the category's), "
                              f"got {self.min_axis_share}")  # fmt: skip
        if self.tau is not None and not self.tau > 0:
            raise ConfigError(f"tau must be > 0 (or None: the model's), got {self.tau}")
        if self.inlier_threshold <= 0 or self.ransac_iterations < 1 or self.icp_steps < 0:
            raise ConfigError("need inlier_threshold > 0, ransac_iterations >= 1, icp_steps >= 0")
        if not 0.0 <= self.upright_min_deg <= 180.0 or self.upright_looks < 1:
            raise ConfigError(f"need 0 <= upright_min_deg <= 180 and upright_looks >= 1, got "
                              f"{self.upright_min_deg}, {self.upright_looks}")  # fmt: skip
        if self.upright_keep not in UPRIGHT_KEEP:
            raise ConfigError(f"upright_keep: expected one of {UPRIGHT_KEEP}, got "
                              f"{self.upright_keep!r}")  # fmt: skip
        if (self.box_layers is not None and self.box_layers < 1) or not (
            self.box_layer_max_distortion >= 1.0
        ):
            raise ConfigError(f"need box_layers >= 1 and box_layer_max_distortion >= 1, got "
                              f"{self.box_layers}, {self.box_layer_max_distortion}")  # fmt: skip
        if not (self.handle_depth_margin >= 0.0 and self.handle_depth_min_points >= 1
                and 0.0 < self.handle_depth_window_deg <= 180.0
                and self.handle_depth_min_turn_deg >= 0.0 and self.handle_depth_sink >= 0.0):
            values = (self.handle_depth_margin, self.handle_depth_min_points,
                      self.handle_depth_window_deg, self.handle_depth_min_turn_deg,
                      self.handle_depth_sink)  # fmt: skip
            raise ConfigError(f"need handle_depth_margin >= 0, handle_depth_min_points >= 1, "
                              f"0 < handle_depth_window_deg <= 180, handle_depth_min_turn_deg "
                              f">= 0 and handle_depth_sink >= 0, got {values}")  # fmt: skip
        if not 0.0 <= self.upright_on_support_deg <= 90.0:
            raise ConfigError(f"upright_on_support_deg must lie in [0, 90], got "
                              f"{self.upright_on_support_deg}")  # fmt: skip
        if not self.plane_threshold > 0.0:
            raise ConfigError(f"plane_threshold must be > 0 (m), got "
                              f"{self.plane_threshold}")  # fmt: skip
        if not 0.0 < self.dark_surface_share <= 1.0:
            raise ConfigError(f"dark_surface_share must lie in (0, 1], got "
                              f"{self.dark_surface_share}")  # fmt: skip
        if not 0.0 <= self.min_box_cover <= 1.0:
            raise ConfigError(f"min_box_cover must lie in [0, 1], got {self.min_box_cover}")
        if not self.image_pose_cells > 0.0:
            raise ConfigError(f"image_pose_cells must be > 0 (feature cells), got "
                              f"{self.image_pose_cells}")  # fmt: skip
        if not self.support_max_threshold > 0.0:
            raise ConfigError(f"support_max_threshold must be > 0 (m), got "
                              f"{self.support_max_threshold}")  # fmt: skip
        if self.handle_min_cells < 1 or self.base_min_cells < 1:
            raise ConfigError(f"handle_min_cells and base_min_cells must be >= 1, got "
                              f"{self.handle_min_cells}, {self.base_min_cells}")  # fmt: skip


def size_distortion(size: np.ndarray, template: np.ndarray, category) -> float:
    """How far the proportions of ``size [3]`` (m) are from those of the ``template``'s extents
    ``[3]``: the largest over the smallest per-axis ratio ``size / template`` (1: the same
    proportions). For a category whose frame puts the longer horizontal edge on x, the size
    may have been reordered that way, so the better of both x/y orders counts."""
    size = np.asarray(size, dtype=np.float64)
    orders = [size, size[[1, 0, 2]]] if category.x_longest_horizontal else [size]
    ratios = [o / np.maximum(template, 1e-9) for o in orders]
    return float(min(r.max() / max(r.min(), 1e-9) for r in ratios))


class CseEstimator(CategoryEstimator):
    """RGB-D pose estimator for the categories of ``models`` (one :class:`CseModel` each; the
    :class:`~ros_pose_estimation.core.estimation.Estimator` contract).

    Args:
        models: category name -> :class:`CseModel` (moved to ``device``, eval mode).
        config: inference settings (:class:`CseInferenceConfig` defaults when None).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
    """

    #: method name, the prefix of the pipeline's timing keys (``cse.solve``...).
    name = "cse"
    #: :meth:`estimate` raises DepthError without a depth image.
    needs_depth = True
    #: :meth:`estimate` takes ``up``, the world's up in the camera frame (from /tf).
    uses_up = True
    stages = STAGES
    load_checkpoint = staticmethod(load_checkpoint)

    config: CseInferenceConfig
    models: dict[str, CseModel]

    @classmethod
    def default_config(cls) -> CseInferenceConfig:
        return CseInferenceConfig()

    # ------------------------------------------------------------------ inputs
    def _prepare(self, image, depth_m, det: Detection, intrinsics, model: CseModel,
                 support=None):
        """``(crop rgb [S x S x 3] uint8, crop, cells [n x n] bool, cell depth [n x n] m,
        other layers)``: the last a list of ``(cells, cell depth)`` of the box's further depth
        layers without a mask (``box_layers`` > 1), else empty. ``support()``: the surface
        around the detection (:func:`.pixels.support_plane`, fitted once per look; None: fitted
        here)."""
        cfg, icfg = model.config, self.config
        crop = detection_crop(det.box_xyxy, intrinsics, cfg.crop_size, cfg.crop_scale)
        masks = [det.mask]
        if det.mask is None:
            n = icfg.box_layers if icfg.box_layers is not None else cfg.box_layers or 1
            masks = box_depth_layers(depth_m, det.box_xyxy, intrinsics.fx, icfg.box_depth_band,
                                     n)  # fmt: skip
            if icfg.box_support_plane:
                plane = (support() if support is not None
                         else self._support(depth_m, det.box_xyxy, intrinsics))
                masks = [remove_below_plane(m, depth_m, intrinsics, plane) for m in masks]
                if icfg.image_pose and plane is not None and icfg.dark_surface_share < 1:
                    dark, share = off_surface(det.box_xyxy, depth_m, intrinsics, plane)
                    if share >= icfg.dark_surface_share:  # the sensor saw the table, not it
                        masks = [dark]
            if icfg.box_depth_jump > 0 and model.category not in DEPTH_JUMP_KEPT:
                # after the table is gone, which joins what stands on it; a dark object's
                # mask (no depth) comes back unchanged
                masks = [split_at_depth_jumps(m, depth_m, det.box_xyxy, icfg.box_depth_jump)
                         for m in masks]  # fmt: skip
        inputs = crop_inputs(crop, image, det.box_xyxy, masks[0], depth_m)
        cells, cell_depth = cell_mask_and_depth(
            inputs.mask, inputs.depth, cfg.stride, icfg.min_mask_fraction
        )
        layers = []
        for m in masks[1:]:
            alt = cell_mask_and_depth(crop.warp_mask(m), inputs.depth, cfg.stride,
                                      icfg.min_mask_fraction)  # fmt: skip
            if np.count_nonzero(alt[0]) >= icfg.min_points:
                layers.append(alt)
        return inputs.rgb, crop, cells, cell_depth, layers

    # ------------------------------------------------------------------ estimation
    def estimate(
        self,
        rgb: np.ndarray,
        detections: Sequence[Detection],
        intrinsics: Intrinsics,
        depth: np.ndarray | None = None,
        depth_encoding: str | None = None,
        errors: str = "raise",
        up: np.ndarray | None = None,
    ) -> list[PoseEstimate | None]:
        """Poses of ``detections`` in ``rgb`` (``[H x W x 3]`` uint8) with registered
        ``depth`` (``[H x W]`` uint16 mm / float32 m, see :func:`.pixels.depth_metres`;
        required); one :class:`PoseEstimate` per detection, in order.

        Args:
            depth_encoding: ``depth``'s encoding (None: from its dtype).
            errors: ``"raise"``: a detection that cannot be solved (too few confident cells
                with depth) raises :class:`EstimationError` / :class:`DepthError` naming it;
                ``"none"``: its entry is None and the others are still returned.
            up: ``[3]`` the world's up direction in the camera frame (e.g. from /tf), when
                known: with ``config.upright`` a rolled camera is turned upright by it, one
                look per object; without it, by a first look
                (:mod:`ros_pose_estimation.core.upright`); with ``config.stand_on_gravity``
                each object within ``upright_on_support_deg`` of it is then stood upright on
                it.

        Raises:
            InputError (incl. DepthError, EncodingError): bad image, depth (none, wrong size or
                encoding, all zero/NaN), intrinsics, boxes, masks or categories; ``up`` not a
                finite non-zero ``[3]`` vector.
        """
        if errors not in ("raise", "none"):
            raise ConfigError(f"errors: expected 'raise' or 'none', got {errors!r}")
        if depth is None:
            raise DepthError(
                "depth: the RGB-D (cse) estimator needs a depth image registered to the colour "
                "image (16UC1 mm or 32FC1 m); none given"
            )
        names = check_inputs(rgb, detections, intrinsics, self.models)
        if not detections:
            return []
        depth_m = depth_metres(depth, depth_encoding)
        intrinsics.check_image(depth_m, "depth")
        cfg = self.config
        if up is not None:
            up = check_up(up)
        if cfg.upright and up is not None:
            found = gravity_look(rgb, detections, intrinsics, up,
                                 partial(self._look, errors=errors), cfg.upright_min_deg,
                                 depth_m)  # fmt: skip
        else:
            found = self._look(rgb, detections, intrinsics, depth_m, errors, names, up)
            if cfg.upright:
                found = second_look(rgb, detections, intrinsics, found,
                                    partial(self._look, errors="none"), cfg.upright_min_deg,
                                    cfg.upright_keep, cfg.upright_looks, depth_m)  # fmt: skip
        if cfg.stand_on_gravity and up is not None:
            stand_all_on_gravity(found, names, up, cfg.upright_on_support_deg)
        return found

    def _look(self, rgb, detections, intrinsics, depth_m, errors, names=None, up=None) -> list:
        """One look at ``detections`` with ``depth_m`` (``[H x W]`` float32 m); ``up``: the
        world's up in this look's camera (``[3]``), when known."""
        if names is None:
            names = check_inputs(rgb, detections, intrinsics, self.models)
        planes: dict[int, tuple | None] = {}  # detection index -> its support plane
        boxes = [det.box_xyxy for det in detections]

        def support_of(i: int):
            if i not in planes:
                planes[i] = self._support(depth_m, boxes[i], intrinsics)
            return planes[i]

        detections = [
            self._clean_mask(det, name, depth_m, intrinsics, partial(support_of, i))
            for i, (det, name) in enumerate(zip(detections, names, strict=True))
        ]

        index = {id(det): i for i, det in enumerate(detections)}

        def crop(det: Detection, model: CseModel):
            try:
                return self._prepare(rgb, depth_m, det, intrinsics, model,
                                     partial(support_of, index[id(det)]))  # fmt: skip
            except (EstimationError, InputError):
                if errors == "raise":
                    raise
                return None

        results = self.estimate_by_category(
            detections,
            names,
            crop,
            lambda model, prepared, times: self._estimate_group(model, prepared, times, errors),
        )
        icfg = self.config
        for i, (det, name, est) in enumerate(zip(detections, names, results, strict=True)):
            if est is None:
                continue
            support, measured = None, False  # measured: the height from the surface
            if (icfg.upright_on_support or (icfg.box_faces and name in FACE_CATEGORIES)
                    or (icfg.laptop_on_surface and name in BASE_CATEGORIES)):  # fmt: skip
                support = support_of(i)
            if icfg.upright_on_support and support is not None:
                if icfg.box_rest_face and name in FACE_CATEGORIES:  # any face may be down
                    est.R, est.size = rest_axis_up(est.R, est.size, support[0],
                                                   icfg.box_rest_face_deg)  # fmt: skip
                est.R = stand_upright(est.R, support[0], icfg.upright_on_support_deg)
                if icfg.clip_to_support:
                    est.t, est.size = clip_to_support(est.R, est.t, est.size, support,
                                                      icfg.upright_on_support_deg)  # fmt: skip
                if icfg.height_from_support and name not in OWN_BOX_CATEGORIES:
                    pts = _solved_object_points(depth_m, det, intrinsics, est)
                    est.t, est.size, measured = height_from_support(est.R, est.t, est.size,
                                                                    support, pts)  # fmt: skip
            if icfg.width_from_box and name in REVOLUTION_CATEGORIES:
                est.size = width_from_box(det.box_xyxy, intrinsics.K[0, 0], est.t, est.size)
            if icfg.handle_depth and name in HANDLE_CATEGORIES:  # box-only: the box's pixels
                if det.mask is not None and icfg.handle_depth_box:  # the handle the mask lost
                    pts = _solved_object_points(depth_m, replace(det, mask=None), intrinsics,
                                                est)  # fmt: skip
                else:
                    pts = object_points(depth_m, det.box_xyxy, det.mask, intrinsics)
                est.R, est.t, _, _ = handle_turn(
                    pts, est.R, est.t, est.size, icfg.handle_depth_margin,
                    icfg.handle_depth_min_points, icfg.handle_depth_window_deg,
                    icfg.handle_depth_min_turn_deg, icfg.handle_depth_sink,
                )  # fmt: skip
            if icfg.laptop_planes and name in BASE_CATEGORIES:
                pts = _solved_object_points(depth_m, det, intrinsics, est)
                surface = None  # the table's normal: gravity's up, else the surface found
                if icfg.laptop_on_surface and up is not None:
                    surface = up
                elif icfg.laptop_on_surface and support is not None:
                    surface = support[0]
                est.R, how, slabs = laptop_slabs(pts, est.R, est.t, icfg.plane_threshold,
                                                 icfg.seed, surface)  # fmt: skip
                on = support if icfg.upright_on_support else None  # the table: the bottom
                if how == "two planes" and icfg.laptop_box:
                    est.t, est.size = laptop_box(slabs, est.R, est.t, support=on)
                elif how == "screen on surface" and icfg.laptop_screen_box and on is not None:
                    plane = screen_plane(slabs, icfg.plane_threshold, icfg.seed)  # fitted once
                    if plane is not None and det.mask is not None and icfg.laptop_front_from_rest:
                        est.R, _ = front_from_rest(pts, slabs, est.R, plane=plane)
                    box = None if plane is None else laptop_screen_box(slabs, est.R, est.t, on,
                                                                       plane=plane)  # fmt: skip
                    if box is not None:
                        est.t, est.size = box
            if icfg.box_faces and name in FACE_CATEGORIES:
                pts = _solved_object_points(depth_m, det, intrinsics, est)
                proportions = self.models[name].template_extents().double().cpu().numpy()
                standing = support is not None and icfg.upright_on_support  # noise used there
                noise = _depth_noise(depth_m, det) if icfg.box_noise and standing else None
                R, est.t, size, _, on_surface = box_from_faces(
                    pts, est.R, est.t, est.size, icfg.plane_threshold, icfg.seed, support,
                    proportions, icfg.upright_on_support, noise or 0.0,
                )  # fmt: skip
                R, est.size = order_horizontal_extents(get_category(name), R, size)
                est.R = canonical_rotation(R, name) if icfg.canonical_symmetry else R
                measured = on_surface and abs(float(est.R[:, 2] @ support[0])) > 1.0 - 1e-6
            correction = self.models[name].view_correction
            if icfg.view_correction and correction is not None:  # the size last, as fitted
                size = correction.correct_size(est.size[None])[0]
                if measured:  # a height measured from the surface is not the solve's
                    size[2] = est.size[2]
                est.size = size
            if icfg.min_box_cover > 0:
                results[i] = self._check_box(i, det, name, est, intrinsics, errors)
        return results

    def _clean_mask(self, det: Detection, name: str, depth_m, intrinsics,
                    support) -> Detection:  # fmt: skip
        """``det`` (of the model ``name``) with its mask's pixels off the object's depth
        (``mask_depth_band``) and, in the mask's rim (``MASK_RIM_SHARE`` of the box's longer
        side), on the surface around it (``mask_support_plane``; ``support()``: that surface,
        fitted once per detection and look) dropped; ``det`` itself without a mask or with
        both steps off."""
        icfg = self.config
        on_surface = (icfg.mask_support_plane if icfg.mask_support_plane is not None
                      else name not in MASK_ON_SURFACE_KEPT)  # fmt: skip
        if det.mask is None or (icfg.mask_depth_band <= 0 and not on_surface):
            return det
        mask = mask_depth_band(det.mask, depth_m, det.box_xyxy, intrinsics.fx,
                               icfg.mask_depth_band)  # fmt: skip
        if on_surface:
            x0, y0, x1, y1 = (float(v) for v in det.box_xyxy)
            rim = mask_rim(mask, math.ceil(MASK_RIM_SHARE * max(x1 - x0, y1 - y0)))
            mask = remove_below_plane(mask, depth_m, intrinsics, support(), within=rim)
        return Detection(det.category, det.box_xyxy, mask)

    def _support(self, depth_m, box_xyxy, intrinsics) -> tuple[np.ndarray, float] | None:
        """The surface around a detection box (:func:`.pixels.support_plane`, its band widened
        up to ``support_max_threshold`` for a far, noisy surface)."""
        return support_plane(depth_m, box_xyxy, intrinsics,
                             max_threshold=self.config.support_max_threshold)  # fmt: skip

    def _check_box(self, i, det, name, est, intrinsics, errors) -> PoseEstimate | None:
        """``est`` if its projected 3D box covers ``min_box_cover`` of the detection box
        (:mod:`ros_pose_estimation.core.box_consistency`), else None (``errors="raise"``: an
        EstimationError saying why)."""
        proj = projected_box(est.R, est.t, est.size, intrinsics)
        cover = 0.0 if proj is None else box_coverage(proj, det.box_xyxy)
        if cover >= self.config.min_box_cover:
            return est
        if errors == "raise":
            raise EstimationError(
                f"detection {i} of {name}: the solved box covers {cover:.0%} of its detection "
                f"box < min_box_cover {self.config.min_box_cover}: the depth in the box is "
                f"likely not the object's (a dark or glossy object, or the surface under it)"
            )
        return None

    @torch.no_grad()
    def _estimate_group(self, model: CseModel, prepared, times, errors) -> list:
        cfg, icfg = model.config, self.config
        live = [j for j, p in enumerate(prepared) if p is not None and p[2].any()]
        out: list[PoseEstimate | None] = [None] * len(prepared)
        for j, p in enumerate(prepared):
            if p is not None and not p[2].any() and errors == "raise":
                raise EstimationError(f"detection {j} of {model.category}: no object pixel")
        if not live:
            return out
        t0 = time.perf_counter()
        pixels = np.stack([prepared[j][0] for j in live])
        crops = torch.from_numpy(pixels).to(self.device).permute(0, 3, 1, 2).float() / 255.0
        K = torch.as_tensor(
            np.stack([prepared[j][1].intrinsics.K for j in live]), dtype=torch.float32
        ).to(self.device)
        pred = model(crops, K)
        sync_device(self.device)
        t1 = time.perf_counter()
        n = cfg.feature_size
        mask = torch.from_numpy(np.stack([prepared[j][2] for j in live]).reshape(len(live), -1))
        mask = mask.to(self.device)
        tau = icfg.tau if icfg.tau is not None else cfg.inference_tau or cfg.tau
        xy = cell_centres(n, n, cfg.stride, self.device)
        points, conf = masked_points(pixel_embeddings(pred.features), pred.embeddings,
                                     pred.vertices, mask, tau, xy, float(cfg.stride),
                                     icfg.sigma_cells)  # fmt: skip
        points = points.double().cpu().numpy()  # [B x P x 3] Eq. 2
        conf = conf.double().cpu().numpy()
        verts = pred.vertices.double().cpu().numpy()
        sync_device(self.device)
        t2 = time.perf_counter()
        uv = xy.double().cpu().numpy()
        for b, j in enumerate(live):
            _, crop, cells, cell_depth, layers = prepared[j]
            sel = cells.reshape(-1)
            try:
                out[j] = self._solve(
                    model, crop, uv[sel], cell_depth.reshape(-1)[sel], points[b][sel],
                    conf[b][sel], verts[b],
                )  # fmt: skip
            except (EstimationError, DepthError) as exc:
                if icfg.image_pose and not layers:
                    out[j] = self._image_pose(model, crop, uv[sel], cell_depth.reshape(-1)[sel],
                                              points[b][sel], conf[b][sel], verts[b])
                if out[j] is None and errors == "raise" and not layers:
                    raise type(exc)(f"detection {j} of {model.category}: {exc}") from None
            if layers:
                out[j] = self._best_layer(model, pred, b, crop, (cells, cell_depth), layers,
                                          out[j], xy, tau)  # fmt: skip
                if out[j] is None and errors == "raise":
                    raise EstimationError(f"detection {j} of {model.category}: no depth layer "
                                          f"of the box could be solved")  # fmt: skip
        t3 = time.perf_counter()
        times["features"] += t1 - t0
        times["correspondence"] += t2 - t1
        times["solve"] += t3 - t2
        return out

    def _best_layer(self, model, pred, b, crop, first, layers, first_pose, xy, tau):
        """The pose of the box's depth layer (``first`` and ``layers``: ``(cells [n x n] bool,
        cell depth [n x n] m)`` each) whose solve is plausible and best supported
        (``box_layers``); ``first_pose`` is the first layer's (None: it failed). None when no
        layer solves."""
        icfg = self.config
        uv = xy.double().cpu().numpy()
        verts = pred.vertices[b].double().cpu().numpy()
        template = verts.max(0) - verts.min(0)
        category = get_category(model.category)
        candidates = [] if first_pose is None else [(first_pose, np.count_nonzero(first[0]))]
        feats = pixel_embeddings(pred.features[b : b + 1])
        for cells, cell_depth in layers:
            mask = torch.from_numpy(cells.reshape(1, -1)).to(feats.device)
            points, conf = masked_points(feats, pred.embeddings[b : b + 1],
                                         pred.vertices[b : b + 1], mask, tau, xy,
                                         float(model.config.stride), icfg.sigma_cells)
            points = points.double().cpu().numpy()[0]
            conf = conf.double().cpu().numpy()[0]
            sel = cells.reshape(-1)
            try:
                pose = self._solve(model, crop, uv[sel], cell_depth.reshape(-1)[sel],
                                   points[sel], conf[sel], verts)  # fmt: skip
            except (EstimationError, DepthError):
                continue  # this layer has too few usable cells: the others decide
            candidates.append((pose, np.count_nonzero(cells)))
        if not candidates:
            return None
        if model.config.per_axis_scale:
            plausible = [c for c in candidates if size_distortion(c[0].size, template, category)
                         <= icfg.box_layer_max_distortion]  # fmt: skip
            candidates = plausible or candidates
        # score: confidence-weighted inliers per cell, times the cells: the inlier weight
        return max(candidates, key=lambda c: c[0].score * c[1])[0]

    def _solve(self, model, crop, uv, z, points, conf, verts) -> PoseEstimate:
        icfg = self.config
        extents = verts.max(0) - verts.min(0)
        per_axis = model.config.per_axis_scale
        pose = pose_from_correspondences(
            uv, z, crop.intrinsics, points, conf, icfg.min_confidence, extents,
            icfg.weight_by_confidence, icfg.min_points, icfg.seed,
            iterations=icfg.ransac_iterations, inlier_threshold=icfg.inlier_threshold,
            per_axis_scale=per_axis,
        )  # fmt: skip
        s, R, t = pose.scale, pose.R, pose.t
        valid = z > 0
        if icfg.icp_steps:
            cam = crop.intrinsics.backproject(uv[valid], z[valid])
            s, R, t, _ = icp_similarity(
                cam, verts, s, R, t, icfg.icp_steps, icfg.inlier_threshold,
                with_scale=icfg.icp_axis_scales or not per_axis, per_axis=per_axis,
            )  # fmt: skip
        weights = np.where(valid & (conf > icfg.min_confidence), conf, 0.0)
        cells = crop.intrinsics.backproject(uv, np.where(valid, z, 1.0))
        if icfg.handle_azimuth and model.category in HANDLE_CATEGORIES:
            R, t, _, _ = handle_azimuth(cells, points, weights, s, R, t, verts,
                                        icfg.handle_min_cells)  # fmt: skip
        centre = 0.5 * (verts.max(0) + verts.min(0))  # the instance box centre (model frame)
        if icfg.base_pitch and model.category in BASE_CATEGORIES:  # the box centre stays
            box_centre = np.asarray(t, dtype=np.float64) + R @ (np.asarray(s) * centre)
            R, _, _ = base_pitch(cells, points, weights, s, R, t, verts, icfg.base_min_cells)
            t = box_centre - R @ (np.asarray(s) * centre)
        score = pose.score / max(len(uv), 1) if icfg.weight_by_confidence else pose.inlier_ratio
        return self._finish(model, s, R, t, verts, score, pose.rmse)

    def _image_pose(self, model, crop, uv, z, points, conf, verts) -> PoseEstimate | None:
        """:meth:`_solve_from_image` after the depth solve failed; None when the depth solve
        had enough confident cells with depth (it failed for another reason) or this fails
        too (the caller reports the depth solve's error)."""
        usable = np.count_nonzero((conf > self.config.min_confidence) & (z > 0))
        if usable >= max(self.config.min_points, 3):
            return None
        try:
            return self._solve_from_image(model, crop, uv, z, points, conf, verts)
        except EstimationError:
            return None

    def _solve_from_image(self, model, crop, uv, z, points, conf, verts) -> PoseEstimate:
        """The pose from the cells' correspondences by PnP, scaled by what depth there is
        (:mod:`.sparse_depth`); its ``warning`` says so."""
        icfg = self.config
        pose = pose_from_image(
            uv, z, crop.intrinsics, points, conf, icfg.min_confidence, icfg.min_points,
            icfg.image_pose_cells * model.config.stride, icfg.ransac_iterations, icfg.seed,
            icfg.image_pose_size_prior,
        )  # fmt: skip
        est = self._finish(model, pose.scale, pose.R, pose.t, verts, pose.score, float("nan"))
        n_depth = int(np.count_nonzero(z > 0))
        est.warning = (
            f"{n_depth} of {len(uv)} object cells have depth: pose from the image (PnP on "
            f"{pose.n_inliers} of {pose.n_points} confident cells), scale from "
            + (f"{pose.depth_cells} {pose.scale_from} with depth" if pose.depth_cells
               else "the category's template size: distance and size may be far off")
        )  # fmt: skip
        return est

    def _finish(self, model, s, R, t, verts, score, loss) -> PoseEstimate:
        """The estimate of the similarity ``x_cam = R diag(s) x_model + t`` (``s`` one scale
        or ``[3]``): ``t`` moved to the instance box's centre, the size, the category's
        frame conventions and the view correction."""
        icfg = self.config
        extents = verts.max(0) - verts.min(0)
        centre = 0.5 * (verts.max(0) + verts.min(0))  # the instance box centre (model frame)
        t = np.asarray(t, dtype=np.float64) + R @ (np.asarray(s) * centre)
        share = (icfg.min_axis_share if icfg.min_axis_share is not None
                 else MIN_AXIS_SHARE.get(model.category, 0.0))  # fmt: skip
        if np.ndim(s) == 1 and share > 0:
            s, t = floor_axis_scales(s, R, t, extents, share)
        # measured extents decide which horizontal edge is x where the frame says (box)
        R, size = order_horizontal_extents(get_category(model.category), R, extents * s)
        if icfg.canonical_symmetry:
            R = canonical_rotation(R, model.category)
        if icfg.view_correction and model.view_correction is not None:
            R, t = model.view_correction.correct(R[None], t[None], size[None])
            R, t = R[0], t[0]
            if icfg.canonical_symmetry:
                R = canonical_rotation(R, model.category)
        return PoseEstimate(
            category=model.category,
            R=R,
            t=t,
            score=float(np.clip(score, 0.0, 1.0)),
            size=size,
            steps=0,
            converged=True,
            loss=loss,
        )
