"""cse-pictures: colours follow the model-frame coordinates, the error column is black where
the prediction is right, and the CLI writes one row per crop."""

import cv2
import numpy as np

from offline_training.cse.pictures import NO_LABEL, main, point_colours, render_row
from ros_pose_estimation.cse.checkpoint import save_checkpoint
from ros_pose_estimation.cse.model import CseConfig, CseModel
from test.offline_training.test_cse_data import cse_root  # noqa: F401  (fixture)


def test_colours_scale_each_axis_over_the_template_box():
    low, high = np.array([-1.0, -2.0, 0.0]), np.array([1.0, 2.0, 4.0])
    pts = np.array([[-1.0, -2.0, 0.0], [1.0, 2.0, 4.0], [0.0, 0.0, 2.0], [5.0, -9.0, 1.0]])
    np.testing.assert_array_equal(
        point_colours(pts, low, high),
        [[0, 0, 0], [255, 255, 255], [127, 127, 127], [255, 0, 63]],
    )


def test_error_column_is_black_where_the_prediction_is_right_and_white_where_far():
    n, size = 4, 16
    cells = np.zeros((n, n), bool)
    cells[1:3, 1:3] = True
    truth = np.zeros((n, n, 3))
    truth[cells] = [0.1, 0.0, 0.0]
    pred = truth.copy()
    pred[1, 1] = [0.1, 0.0, 1.0]  # one cell a whole diameter off
    maps = {"truth": truth, "pred": pred, "cells": cells,
            "crop": np.zeros((size, size, 3), np.uint8)}  # fmt: skip
    row = render_row(maps, np.full(3, -0.5), np.full(3, 0.5), diameter=1.0)
    assert row.shape == (size, 4 * size, 3)
    err = row[:, 3 * size :]
    assert (err[4:8, 4:8] == 255).all()  # the wrong cell (1, 1), 4 px per cell
    assert (err[8:12, 8:12] == 0).all()  # a right one
    assert (err[0:4, 0:4] == NO_LABEL).all()  # off the object
    np.testing.assert_array_equal(row[8, size + 8], point_colours(truth[2:3, 2], -0.5, 0.5)[0])


def test_cli_writes_one_row_per_crop(cse_root, tmp_path, capsys):  # noqa: F811
    ckpt = save_checkpoint(tmp_path / "mug.pt", CseModel(CseConfig("mug", backbone="tiny",
                                                                   crop_size=64)))  # fmt: skip
    out = tmp_path / "mug.png"
    argv = ["--data", str(cse_root), "--category", "mug", "--checkpoint", str(ckpt),
            "--out", str(out), "--frames", "2", "--views-per-layout", "4"]  # fmt: skip
    assert main(argv) == 0
    img = cv2.imread(str(out))
    assert img.shape[1] == 4 * 64 and img.shape[0] in (64, 128)
    assert "mean point" in capsys.readouterr().out
    assert main(argv[:-4] + ["--frames", "0"]) == 2
