"""Plain + enhanced training crops and the domain-consistency loss (paper 001 Eqs. 4-5).

Data (``train-nemo --mix-data DIR``): DIR is an enhanced copy of the training set
(``enhance-dataset``: same images ids, labels and masks; only the RGB differs). Every training
object whose image is in DIR has a *twin*: the same object, crop and augmentation drawn from
the other dataset, so its pose label, crop intrinsics and visible mask are the plain item's
exactly. :class:`MixedTrainingSet` serves, per item, the enhanced crop with probability
``mix_fraction`` (objects with a twin only) and the plain one otherwise; with the domain loss
on it also serves the twin from the other domain (``twin_image``, ``has_twin``).

Loss (``--domain-weight ALPHA``): Eq. 4 ``L_domain = sum_r ||f~_r - C_r||^2`` with ``f~_r`` the
twin's L2-normalised feature sampled at the projection of visible vertex ``r`` and ``C_r`` the
vertex feature bank (unit vectors, updated by momentum from the main crops only, no gradient).
Here the sum is a mean over the twins' visible vertex observations (batch-size independent,
like the contrastive loss; the scale goes into ``ALPHA``); gradients reach the feature net
through ``f~``. Eq. 5 ``L_joint = L_con + L_rec + alpha L_domain`` becomes
``L_con + alpha L_domain``: this project's NeMo trains no ``L_rec`` term (the vertex features
follow the momentum update instead of a gradient of Eq. 3). The paper takes ``f~`` from
pseudo-labelled real images; the enhanced twins are the labelled stand-in, and a pseudo-labelled
set in the same BOP layout can be passed as DIR the same way. Alpha is not published.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from offline_training.bop_objects import NoSamplesError
from offline_training.nemo.data import NemoTrainingSet
from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.nemo.contrastive import sample_vertex_features

__all__ = ["MixedTrainingSet", "add_domain_term", "domain_consistency_loss", "feature_maps"]

_MIX_STREAM = 0x6D6978  # separates the domain draw from the augmentation's random stream


def _scene_gt(root: Path, split: str, scene_id: int) -> dict:
    path = root / split / f"{scene_id:06d}" / "scene_gt.json"
    return json.loads(path.read_text()) if path.exists() else {}


class MixedTrainingSet(torch.utils.data.Dataset):
    """:class:`NemoTrainingSet` items from a plain set and its enhanced copy (module doc).

    Args:
        plain: the training set of ``--data``.
        mix_root: root of the enhanced copy (same split).
        mix_fraction: probability that an object with a twin is served from the enhanced copy.
        twins: also serve ``twin_image`` ``[3 x S x S]`` float32 (the other domain's crop;
            zeros without a twin) and ``has_twin`` (bool) for the domain loss.

    Raises:
        ConfigError: the copy holds no object of the categories, or its labels differ from the
            plain set's (not an enhanced copy).
    """

    def __init__(self, plain: NemoTrainingSet, mix_root: str | Path, mix_fraction: float = 0.5,
                 twins: bool = False) -> None:  # fmt: skip
        if not 0.0 <= mix_fraction <= 1.0:
            raise ConfigError(f"mix_fraction must be in [0, 1], got {mix_fraction}")
        self.plain, self.mix_fraction, self.twins = plain, float(mix_fraction), bool(twins)
        self.mix_root = Path(mix_root)
        try:
            self.enhanced = NemoTrainingSet(
                mix_root, plain.categories, plain.split, plain.crop_size, plain.crop_scale,
                min_visib_fract=0.0, min_box_px=0, augment=plain.augment, seed=plain.seed,
            )  # fmt: skip
        except (NoSamplesError, FileNotFoundError) as exc:
            raise ConfigError(f"--mix-data {mix_root}: {exc}") from exc
        ids = self.enhanced.bop._index  # (scene_id, im_id) per image position
        found = {(*ids[e.pos], e.k): e for e in self.enhanced.entries}
        aligned, has_twin, gts = [], [], {}
        for e in plain.entries:
            scene_id, im_id = plain.bop._index[e.pos]
            twin = found.get((scene_id, im_id, e.k))
            if twin is not None:
                for root, key in ((plain.root, "plain"), (self.mix_root, "mix")):
                    if (key, scene_id) not in gts:
                        gts[key, scene_id] = _scene_gt(root, plain.split, scene_id)
                a, b = (gts[key, scene_id].get(str(im_id)) for key in ("plain", "mix"))
                if a != b or twin.bbox_visib != e.bbox_visib:
                    raise ConfigError(
                        f"--mix-data {mix_root}: the labels of scene {scene_id} image {im_id} "
                        f"differ from {plain.root}'s; it is not an enhanced copy of that dataset"
                    )
            aligned.append(twin if twin is not None else e)  # e: a placeholder, never read
            has_twin.append(twin is not None)
        # index i of the enhanced set is now plain index i: same crop, same augmentation draws
        self.enhanced.entries = aligned
        self.has_twin = np.array(has_twin, dtype=bool)

    def describe(self) -> str:
        n, total = int(self.has_twin.sum()), len(self.has_twin)
        return (f"mixing {self.mix_root}: {n}/{total} training objects have an enhanced twin; "
                f"enhanced crops drawn with probability {self.mix_fraction}"
                + ("; domain-consistency loss on the twins" if self.twins else ""))  # fmt: skip

    def __len__(self) -> int:
        return len(self.plain)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        pair = isinstance(key, tuple | list)
        index, draw = (int(key[0]), int(key[1])) if pair else (int(key), 0)
        twin = bool(self.has_twin[index])
        rng = np.random.default_rng([self.plain.seed, draw, index, _MIX_STREAM])
        enhanced = twin and rng.random() < self.mix_fraction
        item = (self.enhanced if enhanced else self.plain)[key]
        if self.twins:
            other = (self.plain if enhanced else self.enhanced)[key] if twin else None
            item["twin_image"] = other["image"] if twin else torch.zeros_like(item["image"])
            item["has_twin"] = torch.tensor(twin)
        return item


def feature_maps(net, image: torch.Tensor, batch: dict, domain_weight: float):
    """``(net(image), None)``, or with the domain loss on and twins in the batch
    ``(fmap, twin_fmap)`` from one forward pass over ``[image; twins]`` (one pass keeps
    DistributedDataParallel to one forward per step); maps ``[B x D x S/8 x S/8]``."""
    if domain_weight <= 0 or "twin_image" not in batch or not bool(batch["has_twin"].any()):
        return net(image), None
    twins = batch["twin_image"].to(image.device, non_blocking=True)
    both = net(torch.cat([image, twins]))
    return both[: len(image)], both[len(image) :]


def domain_consistency_loss(twin_fmap: torch.Tensor, uv: torch.Tensor, visible: torch.Tensor,
                            has_twin: torch.Tensor,
                            vertex_feats: torch.Tensor) -> tuple[torch.Tensor, int]:  # fmt: skip
    """Eq. 4 as a mean: ``mean ||normalize(f~_r) - C_r||^2`` over the visible vertices of the
    items with a twin.

    Args:
        twin_fmap: ``[B x D x h x w]`` feature maps of the twins.
        uv: ``[B x V x 2]`` vertex projections in feature-map pixels.
        visible: ``[B x V]`` bool; has_twin: ``[B]`` bool.
        vertex_feats: ``[V x D]`` vertex feature bank (used detached).

    Returns:
        ``(loss, n)``: a scalar (0 with a graph when ``n == 0``), and the observation count.
    """
    keep = visible & has_twin.to(visible.device)[:, None]
    feats, ids, _ = sample_vertex_features(twin_fmap, uv, keep)
    if len(feats) == 0:
        return twin_fmap.sum() * 0.0, 0
    target = vertex_feats.detach()[ids].to(feats)
    return (feats - target).pow(2).sum(1).mean(), len(feats)


def add_domain_term(loss: torch.Tensor, stats: dict, twin_fmap: torch.Tensor, uv: torch.Tensor,
                    visible: torch.Tensor, batch: dict, vertex_feats: torch.Tensor,
                    weight: float) -> torch.Tensor:  # fmt: skip
    """``loss + weight * L_domain`` (Eq. 5 without ``L_rec``); records ``loss_domain`` and
    ``n_domain`` in ``stats``."""
    term, n = domain_consistency_loss(twin_fmap, uv, visible, batch["has_twin"], vertex_feats)
    stats["loss_domain"], stats["n_domain"] = float(term.detach()), float(n)
    return loss + weight * term
