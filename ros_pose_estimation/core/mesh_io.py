"""Read and write triangle meshes: OBJ, PLY (ascii / binary), STL (ascii / binary) and OFF.

Pure numpy. Only geometry travels: vertex positions and triangles. Texture coordinates, normals,
colours and other properties are ignored on load; polygons are triangulated as fans
``(v0, vi, vi+1)``. STL stores triangle soup, so identical vertices are merged on load.

Units: a file's numbers are taken as metres unless ``scale`` says otherwise (BOP models are in
millimetres: ``load_mesh(path, scale=1e-3)``). PLY, the richest format, is read and written by
:mod:`.mesh_ply`.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from ros_pose_estimation.core.errors import MeshFormatError
from ros_pose_estimation.core.mesh import TriMesh, fan_triangles
from ros_pose_estimation.core.mesh_ply import ply_bytes, read_ply

SUPPORTED_LOAD = (".obj", ".off", ".ply", ".stl")
SUPPORTED_SAVE = (".obj", ".off", ".ply", ".stl")


def load_mesh(path: str | os.PathLike, scale: float = 1.0, center: bool = False) -> TriMesh:
    """Load a triangle mesh from ``.obj``, ``.ply``, ``.stl`` or ``.off``.

    Args:
        path: mesh file; the format is chosen by the (case-insensitive) extension.
        scale: factor applied to the vertices, e.g. ``1e-3`` for files in millimetres.
        center: translate so the axis-aligned bounding-box centre is the origin.

    Returns:
        ``TriMesh`` with ``[V x 3]`` float64 vertices (after scaling) and ``[F x 3]`` triangles.

    Raises:
        MeshFormatError: unsupported extension, malformed or truncated content, or no faces.
        FileNotFoundError: the file does not exist.
    """
    path = Path(path)
    ext = path.suffix.lower()
    readers = {".obj": _read_obj, ".off": _read_off, ".ply": read_ply, ".stl": _read_stl}
    if ext not in readers:
        raise MeshFormatError(
            f"unsupported mesh extension {ext or '(none)'!r} for {path}; "
            f"supported: {', '.join(SUPPORTED_LOAD)}"
        )
    data = path.read_bytes()
    try:
        vertices, faces = readers[ext](data)
    except MeshFormatError as err:
        raise MeshFormatError(f"{path}: {err}") from None
    if len(faces) == 0:
        raise MeshFormatError(f"{path}: no faces (only triangle/polygon meshes are supported)")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise MeshFormatError(
            f"{path}: face indices out of range [0, {len(vertices)}): "
            f"min {faces.min()}, max {faces.max()}"
        )
    if not np.all(np.isfinite(vertices)):
        raise MeshFormatError(f"{path}: vertices contain NaN or inf")
    mesh = TriMesh(vertices * float(scale), faces)
    return mesh.centered() if center else mesh


def save_mesh(
    mesh: TriMesh, path: str | os.PathLike, binary: bool | None = None, scale: float = 1.0
) -> None:
    """Write ``mesh`` to ``.obj``, ``.ply``, ``.stl`` or ``.off`` (by extension).

    Args:
        mesh: the mesh to write (vertices in metres).
        path: output file.
        binary: PLY and STL: binary (default) or ascii; OBJ and OFF are text only.
        scale: factor applied to the vertices on writing, e.g. ``1e3`` for millimetres.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in SUPPORTED_SAVE:
        raise MeshFormatError(
            f"unsupported mesh extension {ext or '(none)'!r} for {path}; "
            f"supported: {', '.join(SUPPORTED_SAVE)}"
        )
    if binary and ext in (".obj", ".off"):
        raise MeshFormatError(f"{ext} is a text format; binary=True is only for .ply and .stl")
    binary = True if binary is None else binary
    verts = mesh.vertices * float(scale)
    faces = mesh.faces
    if ext == ".obj":
        lines = [f"v {x:.9g} {y:.9g} {z:.9g}" for x, y, z in verts]
        lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
        path.write_text("\n".join(["# ros_pose_estimation", *lines]) + "\n")
    elif ext == ".off":
        lines = ["OFF", f"{len(verts)} {len(faces)} 0"]
        lines += [f"{x:.9g} {y:.9g} {z:.9g}" for x, y, z in verts]
        lines += [f"3 {a} {b} {c}" for a, b, c in faces]
        path.write_text("\n".join(lines) + "\n")
    elif ext == ".ply":
        path.write_bytes(ply_bytes(verts, faces, binary))
    else:
        path.write_bytes(_stl_bytes(verts, faces, binary))


def _read_obj(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    verts: list[list[float]] = []
    polys: list[list[int]] = []
    for lineno, raw in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        tok = raw.split("#", 1)[0].split()
        if not tok:
            continue
        try:
            if tok[0] == "v":
                if len(tok) < 4:
                    raise ValueError("a vertex needs x y z")
                verts.append([float(t) for t in tok[1:4]])
            elif tok[0] == "f":
                # "f a b c", "f a/ta b/tb ...", "f a//na ..."; negative indices count from the end
                idx = [int(t.split("/")[0]) for t in tok[1:]]
                if len(idx) < 3:
                    raise ValueError("a face needs at least 3 vertices")
                polys.append([i - 1 if i > 0 else len(verts) + i for i in idx])
        except ValueError as err:
            raise MeshFormatError(f"line {lineno}: {err}: {raw.strip()!r}") from None
    return np.asarray(verts, dtype=np.float64).reshape(-1, 3), fan_triangles(polys)


def _read_off(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    lines = [ln.split("#", 1)[0].split() for ln in data.decode("utf-8", "replace").splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines or not lines[0][0].endswith("OFF"):
        raise MeshFormatError("OFF file must start with 'OFF'")
    head = lines[0][1:] or (lines[1] if len(lines) > 1 else [])
    body = lines[1:] if lines[0][1:] else lines[2:]
    try:
        n_v, n_f = int(head[0]), int(head[1])
        if len(body) < n_v + n_f:
            raise MeshFormatError(
                f"truncated: header promises {n_v} vertices and {n_f} faces, "
                f"found {len(body)} data lines"
            )
        verts = np.array([[float(t) for t in ln[:3]] for ln in body[:n_v]], dtype=np.float64)
        polys = [[int(t) for t in ln[1 : 1 + int(ln[0])]] for ln in body[n_v : n_v + n_f]]
    except (ValueError, IndexError) as err:
        raise MeshFormatError(f"malformed OFF data: {err}") from None
    return verts.reshape(-1, 3), fan_triangles(polys)


def _read_stl(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    n_bin = struct.unpack("<I", data[80:84])[0] if len(data) >= 84 else -1
    if n_bin >= 0 and len(data) == 84 + 50 * n_bin:
        rec = np.dtype([("n", "<f4", 3), ("v", "<f4", (3, 3)), ("attr", "<u2")])
        soup = np.frombuffer(data, dtype=rec, count=n_bin, offset=84)["v"].astype(np.float64)
    elif data.lstrip()[:5].lower() == b"solid":
        text = data.decode("utf-8", errors="replace").split()
        try:
            coords = [float(text[i + 1 + k]) for i, t in enumerate(text) if t == "vertex"
                      for k in range(3)]  # fmt: skip
        except (ValueError, IndexError) as err:
            raise MeshFormatError(f"malformed ascii STL vertex: {err}") from None
        if len(coords) % 9:
            raise MeshFormatError("truncated ascii STL: vertex count is not a multiple of 3")
        soup = np.asarray(coords, dtype=np.float64).reshape(-1, 3, 3)
    else:
        found = max(len(data) - 84, 0)
        raise MeshFormatError(
            f"truncated or malformed binary STL: header promises {max(n_bin, 0)} triangles "
            f"({50 * max(n_bin, 0)} bytes), found {found} bytes"
        )
    verts, inverse = np.unique(soup.reshape(-1, 3), axis=0, return_inverse=True)
    faces = inverse.reshape(-1, 3).astype(np.int64)
    keep = (
        (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
    )
    return verts, faces[keep]


def _stl_bytes(verts: np.ndarray, faces: np.ndarray, binary: bool) -> bytes:
    tri = verts[faces]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-30)
    if binary:
        rec = np.zeros(len(faces), dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
        rec["n"], rec["v"] = normals, tri
        return (
            b"ros_pose_estimation".ljust(80, b" ") + struct.pack("<I", len(faces)) + rec.tobytes()
        )
    out = ["solid ros_pose_estimation"]
    for n, t in zip(normals, tri, strict=True):
        out += [f"facet normal {n[0]:.6g} {n[1]:.6g} {n[2]:.6g}", "outer loop"]
        out += [f"vertex {x:.9g} {y:.9g} {z:.9g}" for x, y, z in t]
        out += ["endloop", "endfacet"]
    return ("\n".join([*out, "endsolid ros_pose_estimation"]) + "\n").encode()
