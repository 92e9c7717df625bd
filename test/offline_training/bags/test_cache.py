"""The on-disk dataset: resume after an interruption, reuse without decoding, invalidation."""

import json

import numpy as np
import pytest

from offline_training.bags import extract as extract_module
from offline_training.bags.cache import CacheError, ExtractedRecording, read_manifest
from offline_training.bags.config import ExtractionConfig
from offline_training.bags.extract import extract_bag


class _Interrupt(KeyboardInterrupt):
    pass


def _stop_after(n_chunks: int):
    seen = []

    def hook(entry):
        seen.append(entry)
        if len(seen) == n_chunks:
            raise _Interrupt

    return hook


def _content(directory):
    rec = ExtractedRecording(directory)
    return [
        (
            f.index,
            f.rgb.tobytes(),
            f.depth.tobytes(),
            [(o.track_id, tuple(o.box_xyxy)) for o in f.objects],
        )
        for f in rec.frames()
    ]


def test_interrupted_extraction_resumes_and_equals_an_uninterrupted_one(bags, tmp_path):
    cfg = ExtractionConfig(chunk_frames=3)
    with pytest.raises(_Interrupt):
        extract_bag(bags["mcap"], tmp_path / "a", cfg, on_chunk=_stop_after(2))
    (directory,) = (tmp_path / "a").iterdir()
    manifest = read_manifest(directory)
    assert manifest["status"] == "incomplete" and len(manifest["chunks"]) == 2
    with pytest.raises(CacheError, match="resume"):
        ExtractedRecording(directory)
    written = []
    report = extract_bag(bags["mcap"], tmp_path / "a", cfg, on_chunk=written.append)
    assert report.resumed_from_frame == 6 and report.frames == 10
    assert [c["sync_begin"] for c in written] == [6, 9]  # only the rest was decoded
    full = extract_bag(bags["mcap"], tmp_path / "b", cfg)
    assert _content(report.cache_dir) == _content(full.cache_dir)
    assert report.objects == full.objects and report.tracks == full.tracks


def test_finished_extraction_is_reused_without_opening_the_bag(bags, tmp_path, monkeypatch):
    first = extract_bag(bags["sqlite3"], tmp_path / "c")

    def refuse(*args, **kwargs):
        raise AssertionError("the bag was opened although the cache is complete")

    monkeypatch.setattr(extract_module, "BagReader", refuse)
    again = extract_bag(bags["sqlite3"], tmp_path / "c")
    assert again.reused and not first.reused
    assert again.frames == first.frames and again.cache_dir == first.cache_dir


def test_config_change_gets_its_own_directory(bags, tmp_path):
    a = extract_bag(bags["sqlite3"], tmp_path / "c", ExtractionConfig(every_nth=1))
    b = extract_bag(bags["sqlite3"], tmp_path / "c", ExtractionConfig(every_nth=2))
    assert a.cache_dir != b.cache_dir and b.frames == 5
    key_a = json.loads((tmp_path / "c" / a.cache_dir / "manifest.json").read_text())["key"]
    assert key_a.startswith(a.cache_dir.rsplit("-", 1)[1])


def test_damaged_chunk_is_re_extracted(bags, tmp_path):
    cfg = ExtractionConfig(chunk_frames=4)
    first = extract_bag(bags["sqlite3"], tmp_path / "c", cfg)
    chunk = tmp_path / "c" / first.cache_dir / "chunk_00001.npz"
    chunk.write_bytes(chunk.read_bytes()[:100])  # e.g. a copy cut short
    written = []
    again = extract_bag(bags["sqlite3"], tmp_path / "c", cfg, on_chunk=written.append)
    assert not again.reused and again.resumed_from_frame == 4
    assert [c["file"] for c in written] == ["chunk_00001.npz", "chunk_00002.npz"]
    rec = ExtractedRecording(again.cache_dir)
    assert len(rec) == 10 and np.all(
        rec.frame(5).rgb == ExtractedRecording(first.cache_dir).frame(5).rgb
    )
