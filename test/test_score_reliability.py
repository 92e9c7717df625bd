"""benchmarks/score_reliability.py: AUROC, quarters, the threshold chosen on one set and judged
on another, unsolved objects, and the errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import score_reliability as sr


def _write(path, rows):
    path.write_text(json.dumps({"objects": rows}))
    return path


def _nemo_rows(run, errors, scores):
    return [{"preset": run, "rot_err_deg": float(e), "trans_err_m": 0.01, "score": float(s)}
            for e, s in zip(errors, scores, strict=True)]  # fmt: skip


def test_auroc_is_one_for_separated_scores_a_half_for_ties_and_nan_for_one_class():
    right = np.array([True, True, False, False])
    assert sr.auroc(right, np.array([0.9, 0.8, 0.2, 0.1])) == 1.0
    assert sr.auroc(right, np.array([0.1, 0.2, 0.8, 0.9])) == 0.0
    assert sr.auroc(right, np.full(4, 0.5)) == 0.5
    assert np.isnan(sr.auroc(np.array([True, True]), np.array([0.1, 0.2])))


def test_the_threshold_is_the_lowest_that_reaches_the_target():
    # scores 0..9; the three lowest are wrong: 0.95 right needs everything from 0.3 up
    score = np.arange(10) / 10.0
    right = score >= 0.3
    assert sr.choose_threshold(right, score, 0.95) == pytest.approx(0.3)
    assert sr.choose_threshold(right, score, 0.7) == pytest.approx(0.0)  # 7 of 10 right
    assert sr.choose_threshold(np.zeros(10, bool), score, 0.5) is None
    assert sr.kept_at(right, score, 0.3) == (pytest.approx(0.7), 1.0)


def test_quarters_are_ordered_by_score_and_leave_out_unsolved():
    score = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, -np.inf])
    right = np.array([False, False, True, True, True, True, True, True, False])
    q = sr.quarters(right, score)
    assert [n for _, _, n, _ in q] == [2, 2, 2, 2]
    assert q[0] == (0.1, 0.2, 2, 0.0) and q[-1] == (0.7, 0.8, 2, 1.0)


def test_rgbd_rows_count_translation_and_unsolved_objects_as_wrong():
    rows = [{"solved": True, "rot_err_deg": 4.0, "trans_err_cm": 2.0, "score": 0.5},
            {"solved": True, "rot_err_deg": 4.0, "trans_err_cm": 7.0, "score": 0.6},
            {"solved": True, "rot_err_deg": 12.0, "trans_err_cm": 1.0, "score": 0.7},
            {"solved": False, "latency_ms": 3.0}]  # fmt: skip
    right, score = sr.right_and_scores(rows, 10.0, 5.0)
    assert right.tolist() == [True, False, False, False]
    assert score[:3].tolist() == [0.5, 0.6, 0.7] and score[3] == -np.inf


def test_chosen_on_one_file_judged_on_another(tmp_path, capsys):
    gen = np.random.default_rng(0)
    err = gen.uniform(0, 60, 400)
    score = 1.0 - err / 60 + gen.normal(0, 0.05, 400)  # higher scores, smaller errors
    cal = _write(tmp_path / "cal.json", _nemo_rows("a", err[:200], score[:200])
                 + _nemo_rows("b", err[:200], -score[:200]))  # fmt: skip
    ood = _write(tmp_path / "ood.json", _nemo_rows("a", err[200:], score[200:]))
    out = tmp_path / "rel.json"
    assert sr.main(["--choose", f"cal={cal}", "--apply", f"ood={ood}", "--run", "a",
                    "--target", "0.9", "--json", str(out)]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "min_score" in text and "ood: keeps" in text
    figures = json.loads(out.read_text())
    assert figures["sets"]["cal"]["auroc"] > 0.9
    assert figures["sets"]["cal"]["at_threshold"]["right"] >= 0.9
    assert 0.8 < figures["sets"]["ood"]["at_threshold"]["right"] <= 1.0
    # a file with two runs needs --run
    assert sr.main(["--choose", f"cal={cal}"]) == 2
    assert "name one with --run" in capsys.readouterr().err


def test_errors_exit_2(tmp_path, capsys):
    assert sr.main(["--apply", f"x={tmp_path / 'missing.json'}"]) == 2
    assert "score_reliability: error" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        sr.main(["--apply", "nofile"])
    with pytest.raises(SystemExit):
        sr.main([])
