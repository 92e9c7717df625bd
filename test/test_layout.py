"""The README's layout table matches the tree: every package of the two Python packages has a
row, every path and module the table names exists, and test/ mirrors the package tree."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ros_pose_estimation", "offline_training")
#: test folders that mirror no package: ``ros`` holds the tests over a DDS graph.
TEST_ONLY = {"ros"}


def _layout_rows() -> list[tuple[list[str], str]]:
    """``(paths, what)`` per row of the README's layout table (backticked paths of column 1)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or cells[0] in ("path", "---"):
            continue
        rows.append((re.findall(r"`([^`]+)`", cells[0]), cells[1]))
    assert rows, "README.md: no layout table under '## Layout'"
    return rows


def _subpackages(package: str) -> set[str]:
    """``<package>/<sub>/`` for every direct subpackage (a folder with an ``__init__.py``)."""
    return {
        f"{package}/{d.name}/"
        for d in (ROOT / package).iterdir()
        if d.is_dir() and (d / "__init__.py").is_file()
    }


def test_every_path_in_the_layout_table_exists():
    for paths, what in _layout_rows():
        assert paths, f"layout row without a path: {what}"
        for path in paths:
            assert (ROOT / path).exists(), f"README layout names {path}, which does not exist"


def test_every_subpackage_has_a_row():
    listed = {path for paths, _ in _layout_rows() for path in paths}
    for package in PACKAGES:
        missing = sorted(_subpackages(package) - listed)
        assert not missing, f"README layout table has no row for {missing}"


def test_modules_named_in_a_package_row_exist_in_that_package():
    for paths, what in _layout_rows():
        packages = [p for p in paths if p.endswith("/") and (ROOT / p / "__init__.py").is_file()]
        if len(packages) != 1:
            continue
        for module in re.findall(r"`([\w/]+\.py)`", what):
            assert (ROOT / packages[0] / module).is_file(), f"{packages[0]}{module} is named in "\
                "the README layout table but does not exist"  # fmt: skip


def test_test_folders_mirror_the_packages():
    runtime = {p.split("/")[1] for p in _subpackages("ros_pose_estimation")}
    folders = {d.name for d in (ROOT / "test").iterdir() if d.is_dir() and d.name[0] != "_"}
    folders.discard("__pycache__")
    stray = sorted(folders - runtime - TEST_ONLY - {"offline_training"})
    assert not stray, f"test/{stray} mirror no package of ros_pose_estimation"
    training = {p.split("/")[1] for p in _subpackages("offline_training")}
    sub = {d.name for d in (ROOT / "test" / "offline_training").iterdir() if d.is_dir()}
    sub.discard("__pycache__")
    assert sub <= training, f"test/offline_training/{sorted(sub - training)} mirror no package"
