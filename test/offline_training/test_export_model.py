"""export-model --half: float16 weights, float32 geometry, the same model within fp16 rounding."""

import torch

from offline_training.export_model import main
from ros_pose_estimation.cse.checkpoint import load_checkpoint, save_checkpoint
from ros_pose_estimation.cse.model import CseConfig, CseModel


def test_half_export_is_smaller_and_runs_like_the_original(tmp_path, capsys):
    torch.manual_seed(0)
    model = CseModel(CseConfig("mug", backbone="tiny", crop_size=64)).eval()
    src = save_checkpoint(tmp_path / "mug.pt", model, {"step": 3})
    dst = tmp_path / "mug_half.pt"
    assert main([str(src), str(dst), "--half"]) == 0
    assert dst.stat().st_size < 0.7 * src.stat().st_size
    raw = torch.load(dst, weights_only=True)
    assert raw["model"]["template"].dtype == torch.float32  # geometry kept
    assert raw["model"]["faces"].dtype == torch.int64
    assert any(v.dtype == torch.float16 for v in raw["model"].values())
    half, meta = load_checkpoint(dst, category="mug")
    assert meta["step"] == 3 and meta["weights_dtype"] == "float16"
    x, K = torch.rand(2, 3, 64, 64), torch.eye(3).expand(2, 3, 3) * 80
    with torch.no_grad():
        a, b = model(x, K), half(x, K)
    torch.testing.assert_close(b.features, a.features, atol=2e-2, rtol=0)


def test_a_file_that_is_no_checkpoint_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    torch.save({"format": "something else"}, bad)
    assert main([str(bad), str(tmp_path / "out.pt"), "--half"]) == 2
    assert "not a NeMo or CSE checkpoint" in capsys.readouterr().err


def test_inference_tau_is_stored_for_the_estimator_and_checked(tmp_path, capsys, monkeypatch):
    import ros_pose_estimation.cse.estimator as est_module
    from ros_pose_estimation.core.estimation import Detection
    from test.cse.oracle import mask_box, oracle_frame

    model = CseModel(CseConfig("mug", backbone="tiny", crop_size=64)).eval()
    src = save_checkpoint(tmp_path / "mug.pt", model, {"step": 1})
    dst = tmp_path / "mug_tau.pt"
    assert main([str(src), str(dst), "--inference-tau", "0.05"]) == 0
    loaded, _ = load_checkpoint(dst, category="mug")
    assert loaded.config.inference_tau == 0.05 and loaded.config.tau == 0.1
    assert load_checkpoint(src, category="mug")[0].config.inference_tau is None
    assert main([str(src), str(tmp_path / "bad.pt"), "--inference-tau", "0"]) == 2
    assert "inference_tau must be > 0" in capsys.readouterr().err
    # the estimator's order: its own override, else the model's inference_tau, else tau
    seen, real = [], est_module.masked_points
    monkeypatch.setattr(est_module, "masked_points",
                        lambda *a: seen.append(a[4]) or real(*a))  # fmt: skip
    _, rgb, depth, mask, intr, _, _ = oracle_frame("mug", 0)
    det = [Detection("mug", mask_box(mask), mask)]
    for m, config in ((loaded, None), (loaded, est_module.CseInferenceConfig(tau=0.2)),
                      (model, None)):  # fmt: skip
        est_module.CseEstimator({"mug": m}, config).estimate(rgb, det, intr, depth, errors="none")
    assert seen == [0.05, 0.2, 0.1]


def test_a_model_exported_with_a_temperature_can_be_fine_tuned(tmp_path):
    from offline_training.train_loop import load_init_weights

    model = CseModel(CseConfig("mug", backbone="tiny", crop_size=64)).eval()
    src = save_checkpoint(tmp_path / "mug.pt", model, {"step": 1})
    assert main([str(src), str(tmp_path / "tau.pt"), "--inference-tau", "0.05"]) == 0
    init, _ = load_checkpoint(tmp_path / "tau.pt", category="mug")
    fresh = CseModel(CseConfig("mug", backbone="tiny", crop_size=64))
    load_init_weights(fresh, init, tmp_path / "tau.pt")  # no settings error
    assert fresh.config.inference_tau is None  # chosen anew for the fine-tuned model


def test_box_layers_are_stored_for_the_estimator_and_the_lineage_kept(tmp_path, monkeypatch):
    import ros_pose_estimation.cse.estimator as est_module
    from ros_pose_estimation.core.estimation import Detection
    from test.cse.oracle import mask_box, oracle_frame

    model = CseModel(CseConfig("mug", backbone="tiny", crop_size=64)).eval()
    src = save_checkpoint(tmp_path / "mug.pt", model, {"step": 1})
    mid, dst = tmp_path / "mug_half.pt", tmp_path / "mug_layers.pt"
    assert main([str(src), str(mid), "--half"]) == 0
    assert main([str(mid), str(dst), "--box-layers", "3"]) == 0
    loaded, meta = load_checkpoint(dst, category="mug")
    assert loaded.config.box_layers == 3 and meta["weights_dtype"] == "float16"
    assert meta["exported_from"] == f"{src} -> {mid}"
    assert main([str(src), str(tmp_path / "bad.pt"), "--box-layers", "0"]) == 2
    # the estimator's order: its own setting, else the model's, else one layer
    seen, real = [], est_module.box_depth_layers
    monkeypatch.setattr(est_module, "box_depth_layers",
                        lambda *a: seen.append(a[4]) or real(*a))  # fmt: skip
    _, rgb, depth, mask, intr, _, _ = oracle_frame("mug", 0)
    det = [Detection("mug", mask_box(mask), None)]
    one_look = est_module.CseInferenceConfig(upright=False)  # one call per estimate
    override = est_module.CseInferenceConfig(upright=False, box_layers=2)
    for m, config in ((loaded, one_look), (loaded, override), (model, one_look)):
        est_module.CseEstimator({"mug": m}, config).estimate(rgb, det, intr, depth, errors="none")
    assert seen == [3, 2, 1]


def test_a_nemo_model_exports_half_with_its_neural_mesh_kept(tmp_path):
    from ros_pose_estimation.nemo.checkpoint import load_checkpoint as load_nemo
    from ros_pose_estimation.nemo.checkpoint import save_checkpoint as save_nemo
    from ros_pose_estimation.nemo.model import NemoConfig, NemoModel

    torch.manual_seed(0)
    cfg = NemoConfig("mug", backbone="tiny", dim=16, crop_size=64, n_vertices=200)
    model = NemoModel(cfg).eval()
    src = save_nemo(tmp_path / "mug.pt", model, {"step": 2})
    dst = tmp_path / "mug_half.pt"
    assert main([str(src), str(dst), "--half"]) == 0
    raw = torch.load(dst, weights_only=True)
    assert any(v.dtype == torch.float16 for v in raw["feature_net"].values())
    assert all(v.dtype != torch.float16 for v in raw["neural_mesh"].values())
    half, meta = load_nemo(dst, category="mug")
    assert meta["weights_dtype"] == "float16"
    assert next(half.feature_net.parameters()).dtype == torch.float32  # runs in float32
    torch.testing.assert_close(half.mesh.features, model.mesh.features)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        a, b = model.features(x), half.features(x)
    torch.testing.assert_close(b, a, atol=2e-2, rtol=0)
