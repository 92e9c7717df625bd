"""Render-and-compare: the loss and confidence of poses against observed feature maps.

Notation, per detection ``b``: observed unit features ``F [D x h x w]`` of its crop (feature
map pixels ``p``), the neural mesh's unit vertex features ``f_v [V x D]`` and clutter features
``c_m [M x D]``. The clutter similarity map is ``c_p = max_m F_p . c_m`` (0 when ``M = 0``).

Render-and-compare (:func:`render_compare`): the mesh is rasterised at feature resolution, the
vertex features are interpolated with the perspective-correct barycentrics and L2-normalised,
giving ``r_p`` on the rendered foreground ``fg``; ``o_p = F_p . r_p`` (a cosine) there and
``o_p = 0`` elsewhere. Losses (mean over all ``h x w`` pixels of the crop's map):

* ``"nemo"`` (published NeMo code; used by every preset): ``L = 1 - mean_p[max(o_p, c_p) -
  c_p]``: a foreground pixel earns how much better the mesh explains it than the best clutter
  feature (0 if worse); a background pixel contributes ``max(0, -c_p)``, which does not depend
  on the pose. No incentive to shrink the object where the features match poorly.
* ``"linear"``: ``L = 1 - mean_p[fg_p o_p +
  (1 - fg_p) c_p]``: a rendered pixel earns ``o_p - c_p``, negative when clutter explains it
  better, so it always has a gradient (``"nemo"`` has none where ``o_p < c_p``) but also
  rewards rendering fewer pixels (a farther object) where the match is poor. For unit
  features (``|f - C|^2 = 2 - 2 f . C``) it is paper 001 Eq. 3 up to an affine map, with
  ``sigma_r = sigma`` and the background feature ``b`` of each pixel its best clutter feature.

``"nemo"`` lies in [-1, 1], ``"linear"`` in [0, 2]; lower is better; 0 (``"linear"``) for
observed features equal to the rendered ones on the object and to a clutter feature elsewhere.
Gradients flow through the barycentric interpolation only (hard rasteriser: which pixels are
covered is piecewise constant). Only foreground pixels are touched (sparse), so the cost of a
pose is that of its rasterisation plus ``P x D`` for its ``P`` foreground pixels.

Confidence (paper 001 Eq. 6): ``S = (1 / |fg|) sum_{p in fg} F_p . r_p``, the mean cosine
similarity between observed and rendered features over the rendered foreground; reported as
``max(S, 0)`` (in [0, 1]: 0 = no more alike than unrelated features, 1 = every rendered pixel
matches exactly; 0 when nothing is rendered inside the crop).

The score-map approximation used to search many hypotheses cheaply is in :mod:`.hypotheses`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ros_pose_estimation.core.errors import ConfigError, check_shape
from ros_pose_estimation.render.feature_renderer import interpolate_sparse
from ros_pose_estimation.render.rasterizer import rasterize

_CLUTTER_CHUNK = 1 << 22  # elements of the [B x hw x M] similarity block computed at once


@dataclass
class Observation:
    """What the hypotheses of ``B`` detections are compared with (all at feature resolution).

    Attributes:
        features: ``[B x D x h x w]`` observed unit features (zero where masked out).
        clutter: ``[B x h x w]`` clutter similarity ``c_p`` (:func:`clutter_similarity`).
        K: ``[B x 3 x 3]`` camera of the feature map (px of the map).
        anchor: ``[B x 2]`` feature-map pixel of the detection box centre.
        box_side: ``[B]`` longer side of the detection box (feature-map px).
        log_d_range: optional ``[B x 2]`` bounds of ``log d`` (d in m) that refinement keeps
            to (None: unbounded).
    """

    features: torch.Tensor
    clutter: torch.Tensor
    K: torch.Tensor
    anchor: torch.Tensor
    box_side: torch.Tensor
    log_d_range: torch.Tensor | None = None

    def __post_init__(self) -> None:
        s = check_shape("features", self.features, ("B", "D", "h", "w"))
        check_shape("clutter", self.clutter, (s["B"], s["h"], s["w"]))
        check_shape("K", self.K, (s["B"], 3, 3))
        check_shape("anchor", self.anchor, (s["B"], 2))
        check_shape("box_side", self.box_side, (s["B"],))
        if self.log_d_range is not None:
            check_shape("log_d_range", self.log_d_range, (s["B"], 2))

    @property
    def offset_unit(self) -> torch.Tensor:
        """``[B]`` pixels per unit of the centre offset: half the box side (:mod:`.pose_param`)."""
        return 0.5 * self.box_side

    @property
    def size(self) -> tuple[int, int]:
        return int(self.features.shape[2]), int(self.features.shape[3])

    def __len__(self) -> int:
        return int(self.features.shape[0])


def clutter_similarity(features: torch.Tensor, clutter: torch.Tensor) -> torch.Tensor:
    """``[B x h x w]`` ``max_m F_p . c_m`` for ``features [B x D x h x w]``, ``clutter
    [M x D]`` (zeros when ``M = 0``); computed in chunks of clutter features."""
    b, d, h, w = features.shape
    check_shape("clutter", clutter, ("M", d))
    flat = features.flatten(2).transpose(1, 2)  # [B x hw x D]
    best = features.new_full((b, h * w), -math.inf if len(clutter) else 0.0)
    step = max(1, _CLUTTER_CHUNK // max(b * h * w, 1))
    for m0 in range(0, len(clutter), step):
        sim = flat @ clutter[m0 : m0 + step].to(flat).T  # [B x hw x m]
        best = torch.maximum(best, sim.amax(-1))
    return best.view(b, h, w)


@dataclass
class CompareResult:
    """Per pose: ``loss [N]`` (see the module docstring), ``confidence [N]`` in [0, 1] (Eq. 6)
    and ``n_fg [N]`` rendered foreground pixels. ``loss`` is differentiable."""

    loss: torch.Tensor
    confidence: torch.Tensor
    n_fg: torch.Tensor


def render_compare(
    mesh,
    R: torch.Tensor,
    t: torch.Tensor,
    obs: Observation,
    owner: torch.Tensor,
    loss: str = "nemo",
) -> CompareResult:
    """Render the neural mesh at ``N`` poses and compare with their detections' features.

    Args:
        mesh: :class:`~ros_pose_estimation.nemo.neural_mesh.NeuralMesh` (closed, CCW faces).
        R: ``[N x 3 x 3]``, t: ``[N x 3]`` (m) poses in the feature map's camera.
        obs: the ``B`` detections' observations.
        owner: ``[N]`` int64 detection index of each pose (into ``obs``).
        loss: ``"nemo"`` or ``"linear"``.
    """
    if loss not in ("nemo", "linear"):
        raise ConfigError(f"loss: expected 'nemo' or 'linear', got {loss!r}")
    n = check_shape("R", R, ("N", 3, 3))["N"]
    check_shape("owner", owner, (n,))
    h, w = obs.size
    hw = h * w
    frags = rasterize(
        mesh.vertices.to(R), mesh.faces, obs.K[owner].to(R), R, t, (h, w), cull_backfaces=True
    )
    pose = frags.fg_batch  # [P]
    pix = frags.fg_index - pose * hw
    rendered = F.normalize(interpolate_sparse(frags, mesh.features.to(R)), dim=1)  # [P x D]
    det = owner[pose]
    flat = obs.features.flatten(2)  # [B x D x hw]
    observed = flat[det, :, pix]  # [P x D]
    o = (observed * rendered).sum(-1)  # [P] cosines (observed features are unit or 0)
    c = obs.clutter.reshape(len(obs), hw)
    c_fg = c[det, pix]
    if loss == "nemo":
        base = F.relu(-c).mean(1)  # background pixels: max(0, c) - c
        gain = torch.maximum(o, c_fg) - c_fg - F.relu(-c_fg)
    else:
        base = c.mean(1)
        gain = o - c_fg
    total = R.new_zeros(n).index_add(0, pose, gain)
    value = 1.0 - base[owner] - total / hw
    n_fg = torch.bincount(pose, minlength=n)
    cos = R.new_zeros(n).index_add(0, pose, o.detach())
    confidence = (cos / n_fg.clamp_min(1)).clamp(0.0, 1.0)
    return CompareResult(value, confidence, n_fg)


class RenderObjective:
    """:func:`render_compare` bound to a mesh, observations and a loss: the objective of
    :func:`.refine.refine`, ``(R [N x 3 x 3], t [N x 3], owner [N]) -> CompareResult``."""

    def __init__(self, mesh, obs: Observation, loss: str = "nemo") -> None:
        self.mesh, self.obs, self.loss = mesh, obs, loss

    def __call__(self, R: torch.Tensor, t: torch.Tensor, owner: torch.Tensor) -> CompareResult:
        """Every pose rendered afresh."""
        return render_compare(self.mesh, R, t, self.obs, owner, self.loss)


@torch.no_grad()
def oracle_features(
    mesh,
    R: torch.Tensor,
    t: torch.Tensor,
    K: torch.Tensor,
    size: tuple[int, int],
    background: torch.Tensor | None = None,
) -> torch.Tensor:
    """The feature maps a perfect feature network would produce: ``[B x D x h x w]``.

    The neural mesh's own vertex features rendered at the poses ``R [B x 3 x 3]``,
    ``t [B x 3]`` (m) with ``K [(B x) 3 x 3]`` into ``size = (h, w)`` maps (normalised like
    :func:`render_compare`), and ``background`` ``[D]`` (default: the first clutter feature)
    elsewhere. At its own pose, a map has loss 0 (``"linear"``) and confidence 1. For tests,
    benchmarks of the search without trained weights, and debugging.
    """
    frags = rasterize(mesh.vertices.to(R), mesh.faces, K.to(R), R, t, size, cull_backfaces=True)
    d = mesh.features.shape[1]
    fill = mesh.clutter[0] if background is None else background
    h, w = size
    out = fill.to(R).reshape(1, d).repeat(R.shape[0] * h * w, 1)
    out[frags.fg_index] = F.normalize(interpolate_sparse(frags, mesh.features.to(R)), dim=1)
    return out.view(R.shape[0], h, w, d).permute(0, 3, 1, 2).contiguous()
