"""Mesh file I/O: round trips for every format, polygon fans, units, and malformed files."""

import struct

import numpy as np
import pytest

from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.core.mesh import TriMesh
from ros_pose_estimation.core.mesh_io import MeshFormatError, load_mesh, save_mesh

# (extension, binary flag for save_mesh)
FORMATS = [(".obj", None), (".off", None), (".ply", True), (".ply", False), (".stl", True),
           (".stl", False)]  # fmt: skip


@pytest.fixture
def mesh():
    """A closed, irregular octahedron-like mesh (6 vertices, 8 faces), metres."""
    v = np.array([[0.11, 0, 0], [-0.09, 0.01, 0], [0, 0.07, 0.003], [0, -0.05, 0],
                  [0.002, 0, 0.13], [0, 0.004, -0.06]])  # fmt: skip
    f = np.array([[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5],
                  [3, 1, 5], [0, 3, 5]])  # fmt: skip
    return TriMesh(v, f)


def triangles(m: TriMesh) -> np.ndarray:
    return m.vertices[m.faces]


@pytest.mark.parametrize(("ext", "binary"), FORMATS)
def test_round_trip(tmp_path, mesh, ext, binary):
    path = tmp_path / f"m{ext}"
    save_mesh(mesh, path, binary=binary)
    back = load_mesh(path)
    assert back.faces.shape == mesh.faces.shape and back.vertices.shape == mesh.vertices.shape
    np.testing.assert_allclose(triangles(back), triangles(mesh), atol=1e-7)  # float32 storage
    if ext != ".stl":  # STL is triangle soup: vertex order is rebuilt on load
        np.testing.assert_array_equal(back.faces, mesh.faces)


def test_binary_and_ascii_files_differ(tmp_path, mesh):
    save_mesh(mesh, tmp_path / "b.ply", binary=True)
    save_mesh(mesh, tmp_path / "a.ply", binary=False)
    assert b"binary_little_endian" in (tmp_path / "b.ply").read_bytes()[:100]
    assert b"format ascii" in (tmp_path / "a.ply").read_bytes()[:100]


def test_stl_merges_duplicate_vertices_into_a_closed_mesh(tmp_path, mesh):
    save_mesh(mesh, tmp_path / "m.stl")
    back = load_mesh(tmp_path / "m.stl")
    edges = np.sort(np.concatenate([back.faces[:, [0, 1]], back.faces[:, [1, 2]],
                                    back.faces[:, [2, 0]]]), axis=1)  # fmt: skip
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert len(back.vertices) == 6 and set(counts) == {2}


def test_scale_and_center(tmp_path, mesh):
    save_mesh(mesh, tmp_path / "mm.ply", scale=1000.0)  # BOP style: millimetres
    raw = load_mesh(tmp_path / "mm.ply")
    assert raw.extents.max() == pytest.approx(1000 * mesh.extents.max(), rel=1e-6)
    back = load_mesh(tmp_path / "mm.ply", scale=1e-3, center=True)
    np.testing.assert_allclose(back.extents, mesh.extents, rtol=1e-6)
    assert np.abs(back.center).max() < 1e-12


def test_obj_fans_polygons_and_ignores_texture_and_normal_refs(tmp_path):
    (tmp_path / "quad.obj").write_text(
        "# comment\no quad\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 0.5 1.5 0 1.0\n"
        "vt 0 0\nvn 0 0 1\nusemtl x\ns off\n"
        "f 1/1/1 2/1/1 3/1/1 4/1/1\nf -3//1 -2//1 -1//1\n"
    )
    back = load_mesh(tmp_path / "quad.obj")
    np.testing.assert_array_equal(back.faces, [[0, 1, 2], [0, 2, 3], [2, 3, 4]])


def test_off_with_comments_polygons_and_inline_counts(tmp_path):
    (tmp_path / "p.off").write_text(
        "OFF 5 1 0\n# pentagon\n0 0 0\n1 0 0\n1.3 1 0\n0.5 1.6 0\n-0.3 1 0\n5 0 1 2 3 4 255 0 0\n"
    )
    back = load_mesh(tmp_path / "p.off")
    np.testing.assert_array_equal(back.faces, [[0, 1, 2], [0, 2, 3], [0, 3, 4]])


PLY_HEADER = (
    "ply\nformat {fmt} 1.0\ncomment made by hand\nelement vertex 4\nproperty float x\n"
    "property float y\nproperty float z\nproperty float nx\nproperty uchar red\n"
    "element face 2\nproperty list uchar int vertex_indices\nproperty uchar flags\n"
    "element edge 1\nproperty int vertex1\nproperty int vertex2\nend_header\n"
)
PLY_VERTS = [(0, 0, 0, 0.0, 1), (1, 0, 0, 0.0, 2), (1, 1, 0, 0.0, 3), (0, 1, 0.5, 0.0, 4)]


def binary_ply(endian: str) -> bytes:
    fmt = {"<": "binary_little_endian", ">": "binary_big_endian"}[endian]
    body = b"".join(struct.pack(endian + "ffffB", *v) for v in PLY_VERTS)
    body += struct.pack(endian + "B4iB", 4, 0, 1, 2, 3, 7)  # a quad
    body += struct.pack(endian + "B3iB", 3, 0, 2, 3, 7)  # and a triangle
    body += struct.pack(endian + "2i", 0, 1)
    return PLY_HEADER.format(fmt=fmt).encode() + body


@pytest.mark.parametrize("variant", ["ascii", "<", ">"])
def test_ply_with_extra_properties_mixed_polygons_and_elements(tmp_path, variant):
    if variant == "ascii":
        rows = [" ".join(map(str, v)) for v in PLY_VERTS] + ["4 0 1 2 3 7", "3 0 2 3 7", "0 1"]
        data = (PLY_HEADER.format(fmt="ascii") + "\n".join(rows) + "\n").encode()
    else:
        data = binary_ply(variant)
    (tmp_path / "x.ply").write_bytes(data)
    back = load_mesh(tmp_path / "x.ply")
    np.testing.assert_allclose(back.vertices, [v[:3] for v in PLY_VERTS])
    np.testing.assert_array_equal(back.faces, [[0, 1, 2], [0, 2, 3], [0, 2, 3]])


def test_unsupported_extension_lists_the_supported_ones(tmp_path):
    (tmp_path / "m.glb").write_bytes(b"glTF")
    with pytest.raises(MeshFormatError, match=r"'\.glb'.*supported: \.obj, \.off, \.ply, \.stl"):
        load_mesh(tmp_path / "m.glb")
    with pytest.raises(MeshFormatError, match="supported"):
        save_mesh(TriMesh(np.zeros((3, 3)), [[0, 1, 2]]), tmp_path / "m.dae")


def test_error_type_is_a_project_input_error():
    assert issubclass(MeshFormatError, InputError) and issubclass(MeshFormatError, ValueError)


@pytest.mark.parametrize("ext", [".ply", ".stl"])
def test_truncated_binary_files(tmp_path, mesh, ext):
    path = tmp_path / f"m{ext}"
    save_mesh(mesh, path, binary=True)
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(MeshFormatError, match="truncated"):
        load_mesh(path)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("points.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\n", "no faces"),
        ("bad.obj", "v 0 0 0\nv 1 zero 0\n", "line 2"),
        ("range.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n", "out of range"),
        ("short.off", "OFF\n4 2 0\n0 0 0\n1 0 0\n0 1 0\n", "truncated"),
        ("nohead.off", "4 2 0\n", "must start with 'OFF'"),
        ("nohead.ply", "ply\nformat ascii 1.0\nelement vertex 3\n", "end_header"),
        ("short.ply", "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\n"
         "property float y\nproperty float z\nend_header\n0 0 0\n", "truncated"),
        ("fmt.ply", "ply\nformat binary_middle_endian 1.0\nend_header\n", "unsupported PLY"),
        ("noxyz.ply", "ply\nformat ascii 1.0\nelement vertex 1\nproperty float u\n"
         "end_header\n0\n", "x, y, z"),
    ],
)  # fmt: skip
def test_malformed_text_files(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(MeshFormatError, match=message) as info:
        load_mesh(tmp_path / name)
    assert name in str(info.value)  # the message names the file


def test_binary_flag_is_rejected_for_text_formats(tmp_path, mesh):
    with pytest.raises(MeshFormatError, match="text format"):
        save_mesh(mesh, tmp_path / "m.obj", binary=True)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_mesh(tmp_path / "nope.ply")


def test_generated_shape_survives_a_bop_style_round_trip(tmp_path):
    from ros_pose_estimation.shapes import template_mesh

    mug = template_mesh("mug")
    save_mesh(mug, tmp_path / "obj_000006.ply", scale=1000.0)
    back = load_mesh(tmp_path / "obj_000006.ply", scale=1e-3)
    np.testing.assert_allclose(back.vertices, mug.vertices, atol=1e-6)
    np.testing.assert_array_equal(back.faces, mug.faces)
