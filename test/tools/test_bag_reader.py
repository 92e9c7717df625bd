"""The one bag reader: topic and time-range selection, raw and deserialised messages, every path
form (folder, folder without metadata.yaml, single .mcap / .db3 file), errors and salvage.

Bags are tiny and written with rosbags (``bag_kit``, see conftest.py).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ros_pose_estimation.core.errors import InputError

pytest.importorskip("rosbags", reason="rosbags (the [data] extra) reads and writes the bags")

from ros_pose_estimation.tools.bag_reader import (
    BagError,
    BagReader,
    CorruptBagError,
    RosbagsMissingError,
)

ROOT = Path(__file__).resolve().parents[2]


def _data_file(bag: Path) -> Path:
    (data,) = [p for p in bag.iterdir() if p.name != "metadata.yaml"]
    return data


# ----------------------------------------------------------------------------- selection


@pytest.mark.parametrize(
    ("storage", "compress"), [("sqlite3", "none"), ("mcap", "file"), ("mcap", "message")]
)
def test_raw_messages_in_log_time_order_by_topic_and_time_range(
    bag_kit, tmp_path, storage, compress
):
    T0, NS = bag_kit.T0, bag_kit.NS
    bag = tmp_path / "bag"
    written = bag_kit.write(bag, storage=storage, chatter_hz=4.0, compress=compress)
    with BagReader(bag) as src:
        assert src.start_ns == T0 and src.end_ns == written[-1][1]
        assert src.duration_s == pytest.approx(2.0) and src.message_count == len(written)
        assert {t.name: (t.msgtypes, t.count) for t in src.topics.values()} == {
            "/ticks": (("std_msgs/msg/Header",), 21),
            "/chatter": (("std_msgs/msg/String",), 8),
        }
        assert src.topics["/ticks"].type_hash.startswith("RIHS01_")
        assert "string frame_id" in src.topics["/ticks"].msgdef
        mode = "" if compress == "none" else f", {compress} compression"
        assert src.storage == storage + mode and not src.salvaged and src.damage is None
        assert list(src.messages()) == written
        window = list(src.messages(["/ticks"], T0 + NS // 2, T0 + NS))  # both ends inclusive
        assert [ns for _, ns, _ in window] == [T0 + k * NS // 10 for k in range(5, 11)]
        assert list(src.messages(["/chatter"], start_ns=T0 + NS)) == [
            m for m in written if m[0] == "/chatter" and m[1] >= T0 + NS
        ]
        assert list(src.messages(end_ns=T0)) == written[:1]
        assert list(src.messages(["/nope"])) == []  # names not in the bag are ignored


def test_deserialised_messages_use_the_bags_definitions_over_the_typestore(bag_kit, tmp_path):
    """The unknown test type decodes from the definition stored in the bag; a typestore that
    agrees with the bag is used as it is (nothing rebuilt)."""
    bag = tmp_path / "bag"
    written = bag_kit.write(bag, storage="mcap", blob=True, seconds=1.0)
    with BagReader(bag) as src:
        assert src.can_deserialize(bag_kit.BLOB)
        msgs = list(src.messages(["/ticks", "/blob"], deserialize=True))
    raw = [(t, ns) for t, ns, _ in written if t in ("/ticks", "/blob")]
    assert [(t, ns) for t, ns, _ in msgs] == raw
    ticks = [m for t, _, m in msgs if t == "/ticks"]
    assert [m.frame_id for m in ticks] == [f"tick{i}" for i in range(11)]
    assert all(
        m.stamp.sec * bag_kit.NS + m.stamp.nanosec == ns for (t, ns, m) in msgs if t == "/ticks"
    )
    assert [m.note for t, _, m in msgs if t == "/blob"] == ["blob 0", "blob 1", "blob 2"]
    store = bag_kit.store()
    with BagReader(bag, typestore=store) as src:
        assert src.typestore is store


def test_a_type_defined_nowhere_is_a_bag_error_when_deserialised(bag_kit, tmp_path):
    from rosbags.rosbag2 import Writer

    bag = tmp_path / "bag"
    store = bag_kit.store()
    with Writer(bag, version=9) as writer:  # no definition recorded for the blob type
        conn = writer.add_connection("/blob", bag_kit.BLOB, msgdef="", rihs01="RIHS01_" + "0" * 64)
        blob = store.types[bag_kit.BLOB](data=np.zeros(2, np.uint8), note="x")
        writer.write(conn, bag_kit.T0, store.serialize_cdr(blob, bag_kit.BLOB))
    with BagReader(bag) as src:
        assert [t for t, _, _ in src.messages()] == ["/blob"]  # raw is fine
        assert not src.can_deserialize(bag_kit.BLOB)
        with pytest.raises(BagError, match=f"/blob has type {bag_kit.BLOB}.*read it raw"):
            list(src.messages(deserialize=True))
    with BagReader(bag, typestore=store) as src:  # a typestore that has it
        ((_, _, msg),) = src.messages(deserialize=True)
        assert msg.note == "x"


# ----------------------------------------------------------------------------- path forms


@pytest.mark.parametrize(
    ("storage", "compress"),
    [("sqlite3", "none"), ("mcap", "none"), ("mcap", "message"), ("sqlite3", "message")],
)
def test_folder_single_file_and_folder_without_metadata_read_the_same(
    bag_kit, tmp_path, storage, compress
):
    """A message-compressed bag's file decompresses without metadata.yaml (zstd frames)."""
    bag = tmp_path / "bag"
    written = bag_kit.write(bag, storage=storage, chatter_hz=4.0, compress=compress)
    single = _data_file(bag)
    assert single.suffix == (".db3" if storage == "sqlite3" else ".mcap")
    bare = tmp_path / "bare"  # a folder holding the file, without metadata.yaml
    bare.mkdir()
    shutil.copy(single, bare / single.name)
    with BagReader(bag) as a, BagReader(single) as b, BagReader(bare) as c:
        for src in (a, b, c):
            assert list(src.messages()) == written
            assert list(src.messages(["/ticks"], deserialize=True)) == list(
                a.messages(["/ticks"], deserialize=True)
            )
            assert (
                src.storage
                == a.storage
                == storage + (", message compression" * (compress == "message"))
            )
            assert {t.name: (t.msgtypes, t.count, t.msgdef) for t in src.topics.values()} == {
                t.name: (t.msgtypes, t.count, t.msgdef) for t in a.topics.values()
            }  # rosbags gives no type hash for a single MCAP file
            assert (src.start_ns, src.end_ns, src.message_count) == (
                a.start_ns,
                a.end_ns,
                a.message_count,
            )


def test_a_folder_of_several_files_without_metadata_is_merged_in_time(bag_kit, tmp_path):
    first = bag_kit.write(tmp_path / "a", storage="mcap", seconds=1.0)  # /ticks only
    second = bag_kit.write(
        tmp_path / "b", storage="mcap", seconds=1.0, ticks_hz=0.1, chatter_hz=3.0
    )
    split = tmp_path / "split"
    split.mkdir()
    shutil.copy(_data_file(tmp_path / "a"), split / "part_0.mcap")
    shutil.copy(_data_file(tmp_path / "b"), split / "part_1.mcap")
    with BagReader(split) as src:
        got = list(src.messages())
        assert src.topics["/ticks"].count == 12 and src.topics["/chatter"].count == 3
    assert sorted(got, key=lambda m: m[1]) == got
    assert sorted(got) == sorted(first + second)


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", "no such file or folder; pass a rosbag2 folder or a .mcap / .db3 file"),
        ("empty_dir", "not a rosbag2 folder"),
        ("dir_of_bags", "it holds the bag folder.s. inner: pass one"),
        ("text_file", "not a bag .got a .txt file.; pass a rosbag2 folder"),
        ("ros1_bag", "rosbags-convert --src"),
        ("zstd_file", "zstd -d"),
        ("no_data", "the recording's data is missing"),
    ],
)
def test_unusable_paths_raise_bag_error_saying_what_to_do(bag_kit, tmp_path, case, expected):
    path = tmp_path / "bag"
    if case == "empty_dir":
        path.mkdir()
    elif case == "dir_of_bags":
        bag_kit.write(path / "inner", seconds=0.2)
    elif case == "text_file":
        path = tmp_path / "notes.txt"
        path.write_text("not a bag")
    elif case == "ros1_bag":
        path = tmp_path / "old.bag"
        path.write_bytes(b"#ROSBAG V2.0\n")
    elif case == "zstd_file":
        bag_kit.write(path, storage="mcap", compress="file", seconds=0.2)
        path = _data_file(path)
    elif case == "no_data":
        bag_kit.write(path, seconds=0.2)
        _data_file(path).unlink()
    with pytest.raises(BagError, match=expected) as info:
        BagReader(path)
    assert not isinstance(info.value, CorruptBagError) and isinstance(info.value, InputError)


@pytest.mark.parametrize("case", ["sqlite3", "mcap", "zstd_file", "bad_metadata", "empty_mcap"])
def test_damaged_bags_raise_corrupt_bag_error_naming_the_file(bag_kit, tmp_path, case):
    path = tmp_path / "bag"
    if case == "empty_mcap":  # a folder without metadata.yaml around an empty file
        path.mkdir()
        (path / "x.mcap").write_bytes(b"")
    elif case == "bad_metadata":
        bag_kit.write(path)
        (path / "metadata.yaml").write_text("rosbag2_bagfile_information: {version: 9}\n")
    else:
        storage = "sqlite3" if case == "sqlite3" else "mcap"
        bag_kit.write(path, storage=storage, compress="file" if case == "zstd_file" else "none")
        bag_kit.truncate(_data_file(path), 0.5)
    with pytest.raises(
        CorruptBagError, match="damaged or truncated bag file .cannot open"
    ) as info:
        with BagReader(path) as src:
            list(src.messages())
    assert info.value.path == _data_file(path) and "ros2 bag reindex" in str(info.value)


@pytest.mark.parametrize(("fill", "where"), [(b"\xff", 0.5), (b"\x00", 0.3)])
def test_damage_found_while_reading_is_a_corrupt_bag_error(bag_kit, tmp_path, fill, where):
    """Garbled MCAP data with an intact index: an error while reading (0xff: lengths overflow),
    or rosbags ending early (0x00), which the reader detects from the index's message counts."""
    path = tmp_path / "bag"
    bag_kit.write(path, storage="mcap", compress="message", seconds=20.0)
    data_file = next(path.glob("*.mcap"))
    data = bytearray(data_file.read_bytes())
    at = int(len(data) * where)
    data[at : at + 64] = fill * 64
    data_file.write_bytes(bytes(data))
    with pytest.raises(CorruptBagError, match="reading stopped after|messages missing"):
        with BagReader(path) as src:
            list(src.messages())


# ----------------------------------------------------------------------------- salvage


@pytest.mark.parametrize(
    ("storage", "single", "compress"),
    [
        ("sqlite3", False, "none"),
        ("mcap", False, "message"),
        ("mcap", True, "message"),  # compression found from the zstd frames
        ("sqlite3", True, "none"),
        ("mcap", True, "none"),
    ],
)
def test_salvage_reads_up_to_the_damage_and_says_what_was_lost(
    bag_kit, tmp_path, storage, single, compress
):
    bag = tmp_path / "bag"
    written = bag_kit.write(bag, storage=storage, chatter_hz=4.0, seconds=60.0, compress=compress)
    data_file = _data_file(bag)
    bag_kit.truncate(data_file, 0.6)  # the SQLite file keeps its schema and some rows
    path = data_file if single else bag
    with pytest.raises(CorruptBagError):
        BagReader(path)
    with BagReader(path, salvage=True) as src:
        mode = ", message compression" if compress == "message" else ""
        assert src.salvaged and src.storage == f"{storage}{mode} (salvaged)"
        damage = src.damage
        assert damage is not None and damage.path == data_file
        read = src.message_count
        assert 0 < read < len(written)
        assert f"{read} message(s) before the damage could be read" in damage.reason
        if not single:  # metadata.yaml says how many there were
            assert f"of the {len(written)} metadata.yaml lists" in damage.reason
        got = []
        with pytest.raises(CorruptBagError) as info:
            for message in src.messages():
                got.append(message)
        assert info.value is damage and got == written[:read]  # a prefix, in log-time order
        window = (bag_kit.T0 + bag_kit.NS, bag_kit.T0 + 2 * bag_kit.NS)
        with pytest.raises(CorruptBagError):
            ticks = []
            for message in src.messages(["/ticks"], *window, deserialize=True):
                ticks.append(message)
        assert [m.frame_id for _, _, m in ticks] == [f"tick{i}" for i in range(10, 21)]


def test_salvage_refuses_file_compressed_bags_saying_why(bag_kit, tmp_path):
    bag = tmp_path / "bag"
    bag_kit.write(bag, storage="mcap", compress="file")
    bag_kit.truncate(_data_file(bag), 0.5)
    with pytest.raises(CorruptBagError, match="not file-compressed, can be salvaged"):
        BagReader(bag, salvage=True)


# ----------------------------------------------------------------------------- dependencies


def test_missing_rosbags_names_the_pip_package(bag_kit, tmp_path, monkeypatch):
    bag_kit.write(tmp_path / "bag")
    monkeypatch.setitem(sys.modules, "rosbags", None)
    with pytest.raises(RosbagsMissingError, match="pip install rosbags"):
        BagReader(tmp_path / "bag")


def test_importing_the_reader_pulls_in_neither_rosbags_nor_offline_training():
    code = (
        "import sys, ros_pose_estimation.tools.bag_reader, ros_pose_estimation.tools.bag_errors\n"
        "print(','.join(m for m in ('rosbags', 'rclpy', 'offline_training', 'yaml')\n"
        "               if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == ""
