"""benchmarks.diffusion_tiny: one generator's failure is recorded and does not lose the other's
figures (the GPU run of benchmarks/gpu.sh lost Zero-1-to-3's figures when ControlNet failed)."""

import json
from pathlib import Path

import pytest

from benchmarks import controlnet_tiny, diffusion_tiny, zero123_tiny


def test_a_failing_generator_keeps_the_other_result(tmp_path, monkeypatch):
    def zero123(argv):
        path = Path(argv[argv.index("--json") + 1])
        path.write_text(json.dumps({"ms_per_view": 1.5, "argv": argv}))
        return 0

    def controlnet(argv):
        raise ModuleNotFoundError("No module named 'open3d'")

    monkeypatch.setattr(zero123_tiny, "main", zero123)
    monkeypatch.setattr(controlnet_tiny, "main", controlnet)
    out = tmp_path / "d.json"
    assert diffusion_tiny.main(["--views", "2", "--json", str(out)]) == 1
    result = json.loads(out.read_text())
    assert result["zero123"]["ms_per_view"] == 1.5
    assert "--views" in result["zero123"]["argv"]
    assert result["controlnet"]["exit"] == 1
    assert "open3d" in result["controlnet"]["error"]


def test_controlnet_data_is_passed_through(tmp_path, monkeypatch):
    seen = {}

    def record(name):
        def run(argv):
            seen[name] = argv
            Path(argv[argv.index("--json") + 1]).write_text("{}")
            return 0

        return run

    monkeypatch.setattr(zero123_tiny, "main", record("zero123"))
    monkeypatch.setattr(controlnet_tiny, "main", record("controlnet"))
    rc = diffusion_tiny.main(["--controlnet-data", "some/bop", "--controlnet-split", "test",
                              "--json", str(tmp_path / "d.json")])  # fmt: skip
    assert rc == 0
    cn = seen["controlnet"]
    assert cn[cn.index("--data") + 1] == "some/bop" and cn[cn.index("--split") + 1] == "test"
    assert "--data" not in seen["zero123"]


def test_controlnet_refuses_a_dataset_without_the_split(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        controlnet_tiny.main(["--data", str(tmp_path), "--split", "test"])
    assert exc.value.code == 2
    assert "no split 'test'" in capsys.readouterr().err
