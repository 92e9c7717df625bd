"""CSE sequence pairs: no labels unless asked, and the cross-time pairs are geometrically exact."""

import numpy as np
import pytest
import torch

from offline_training.bop_objects import NoSamplesError
from offline_training.cse.data import CseSequenceSet
from offline_training.synthetic.dataset import DatasetConfig, generate_dataset


@pytest.fixture(scope="session")
def cse_root(tmp_path_factory):
    """8 images (128 x 96): 2 layouts x 4 views of 1-2 mugs/bottles (shared by the CSE tests)."""
    root = tmp_path_factory.getbasetemp() / "cse_bop"
    if not (root / "train").exists():
        cfg = DatasetConfig(["mug", "bottle"], root, images=8, width=128, height=96,
                            instances=2, views_per_layout=4, objects_per_image=(1, 2),
                            fill=(0.6, 0.9))  # fmt: skip
        generate_dataset(cfg, progress=False)
    return root


def _model_coords(item, f, uv):
    """True model coordinates of crop pixels ``uv`` of frame ``f`` (labels, test only)."""
    K, R, t = item["K"][f].double(), item["R"][f].double(), item["t"][f].double()
    pix = torch.as_tensor(uv, dtype=torch.float64)
    rows = pix[:, 1].round().long().clamp(0, item["depth"].shape[-1] - 1)
    cols = pix[:, 0].round().long().clamp(0, item["depth"].shape[-1] - 1)
    z = item["depth"][f][rows, cols].double()
    rays = torch.stack([(pix[:, 0] - K[0, 2]) / K[0, 0], (pix[:, 1] - K[1, 2]) / K[1, 1],
                        torch.ones(len(pix), dtype=torch.float64)], 1)  # fmt: skip
    return (rays * z[:, None] - t) @ R, z


def test_items_hold_no_pose_labels_unless_asked(cse_root):
    ds = CseSequenceSet(cse_root, "mug", views_per_layout=4, crop_size=64, min_visib_fract=0.3)
    item = ds[0]
    assert "R" not in item and "t" not in item
    assert item["image"].shape == (2, 3, 64, 64) and item["depth"].shape == (2, 64, 64)
    assert item["mask"].dtype == torch.bool and item["K"].shape == (2, 3, 3)
    assert item["pair_cell"].shape == (200,) and item["pair_uv"].shape == (200, 2)


def test_cross_time_pairs_meet_on_the_same_surface_point(cse_root):
    ds = CseSequenceSet(cse_root, "mug", views_per_layout=4, crop_size=64, min_visib_fract=0.3,
                        with_labels=True)  # fmt: skip
    checked = 0
    for i in range(len(ds)):
        item = ds[(i, 3)]
        ok = item["pair_valid"]
        if ok.sum() < 5:
            continue
        cell = item["pair_cell"][ok]
        n = 64 // 4
        src_uv = torch.stack([cell % n, cell // n], 1).double() * 4 + 1.5
        a, za = _model_coords(item, 0, src_uv)
        b, zb = _model_coords(item, 1, item["pair_uv"][ok])
        good = (za > 0) & (zb > 0)
        err = (a - b)[good].norm(dim=1)
        # cell depth is a 4 x 4 mean and uv_b is rounded to a pixel: allow ~1.5 cm
        assert np.median(err.numpy()) < 0.015, err
        checked += 1
    assert checked > 0


def test_no_track_is_a_clear_error(cse_root):
    with pytest.raises(NoSamplesError, match="no track of camera"):
        CseSequenceSet(cse_root, "camera", views_per_layout=4)


def test_replayed_labelled_tracks_take_the_pseudo_label_layout(cse_root):
    """AsLabelledTracks: a labelled set's items gain ``labelled`` (all True) and a shifted
    sequence id, keys otherwise as the labelled set gives them; an unlabelled set is refused."""
    from offline_training.cse.data import AsLabelledTracks
    from ros_pose_estimation.core.errors import ConfigError

    kw = dict(views_per_layout=4, crop_size=64, min_visib_fract=0.3)
    labelled = CseSequenceSet(cse_root, "mug", with_labels=True, **kw)
    view = AsLabelledTracks(labelled, sequence_offset=100)
    assert len(view) == len(labelled)
    item, plain = view[(0, 3)], labelled[(0, 3)]
    assert item["labelled"].tolist() == [True, True]
    assert int(item["sequence"]) == int(plain["sequence"]) + 100
    torch.testing.assert_close(item["R"], plain["R"])
    torch.testing.assert_close(item["image"], plain["image"])
    with pytest.raises(ConfigError, match="with_labels"):
        AsLabelledTracks(CseSequenceSet(cse_root, "mug", **kw), 0)
