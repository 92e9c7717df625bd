"""Read and write triangle meshes: OBJ, PLY (ascii / binary), STL (ascii / binary) and OFF.

Pure numpy. Only geometry travels: vertex positions and triangles. Texture coordinates, normals,
colours and other properties are ignored on load; polygons are triangulated as fans
``(v0, vi, vi+1)``. STL stores triangle soup, so identical vertices are merged on load.

Units: a file's numbers are taken as metres unless ``scale`` says otherwise (BOP models are in
millimetres: ``load_mesh(path, scale=1e-3)``).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.core.mesh import TriMesh

SUPPORTED_LOAD = (".obj", ".off", ".ply", ".stl")
SUPPORTED_SAVE = (".obj", ".off", ".ply", ".stl")

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}  # fmt: skip


class MeshFormatError(InputError):
    """A mesh file is malformed, truncated, empty or of an unsupported format (a ValueError)."""


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
    readers = {".obj": _read_obj, ".off": _read_off, ".ply": _read_ply, ".stl": _read_stl}
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
        path.write_bytes(_ply_bytes(verts, faces, binary))
    else:
        path.write_bytes(_stl_bytes(verts, faces, binary))


def _fan(polygons) -> np.ndarray:
    """Triangulate polygons ``(v0, v1, ..., vn)`` as fans; returns ``[F x 3]`` int64.

    ``polygons`` is a list of index lists, or a ``[P x K]`` array of equal-size polygons.
    """
    if isinstance(polygons, np.ndarray) and polygons.ndim == 2:
        p = polygons.astype(np.int64)
        tris = [np.stack([p[:, 0], p[:, i], p[:, i + 1]], 1) for i in range(1, p.shape[1] - 1)]
        return np.stack(tris, 1).reshape(-1, 3) if tris else np.zeros((0, 3), np.int64)
    tris = [(p[0], p[i], p[i + 1]) for p in polygons for i in range(1, len(p) - 1)]
    return np.asarray(tris, dtype=np.int64).reshape(-1, 3)


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
    return np.asarray(verts, dtype=np.float64).reshape(-1, 3), _fan(polys)


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
    return verts.reshape(-1, 3), _fan(polys)


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


def _ply_header(data: bytes) -> tuple[str, list[tuple[str, int, list]], int]:
    """Parse a PLY header: (format, [(element, count, [(prop, dtype, list_count_dtype)])], end)."""
    if not data.startswith(b"ply"):
        raise MeshFormatError("PLY file must start with 'ply'")
    end = data.find(b"end_header")
    if end < 0:
        raise MeshFormatError("truncated PLY: no 'end_header'")
    body_start = data.find(b"\n", end) + 1 or len(data)
    fmt, elements = "", []
    for line in data[:end].decode("ascii", errors="replace").splitlines()[1:]:
        tok = line.split()
        try:
            if not tok or tok[0] in ("comment", "obj_info"):
                continue
            if tok[0] == "format":
                fmt = tok[1]
            elif tok[0] == "element":
                elements.append((tok[1], int(tok[2]), []))
            elif tok[0] == "property" and tok[1] == "list":
                elements[-1][2].append((tok[4], _PLY_TYPES[tok[3]], _PLY_TYPES[tok[2]]))
            elif tok[0] == "property":
                elements[-1][2].append((tok[2], _PLY_TYPES[tok[1]], None))
        except (KeyError, IndexError, ValueError):
            raise MeshFormatError(f"malformed PLY header line {line!r}") from None
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise MeshFormatError(
            f"unsupported PLY format {fmt!r}; supported: ascii, binary_little_endian, "
            "binary_big_endian"
        )
    return fmt, elements, body_start


def _read_ply(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    fmt, elements, pos = _ply_header(data)
    tables: dict[str, dict[str, object]] = {}
    if fmt == "ascii":
        rows = iter(data[pos:].decode("ascii", errors="replace").splitlines())
    endian = ">" if fmt == "binary_big_endian" else "<"
    for name, count, props in elements:
        if fmt == "ascii":
            tables[name], rows = _ply_ascii_element(name, count, props, rows)
        else:
            tables[name], pos = _ply_binary_element(data, pos, name, count, props, endian)
    vertex = tables.get("vertex", {})
    if not all(k in vertex for k in "xyz"):
        raise MeshFormatError("PLY has no 'vertex' element with x, y, z properties")
    verts = np.stack([np.asarray(vertex[k], dtype=np.float64) for k in "xyz"], axis=1)
    face = tables.get("face", {})
    polys = face.get("vertex_indices", face.get("vertex_index", []))
    if not isinstance(polys, np.ndarray):
        polys = [[int(i) for i in p] for p in polys]  # type: ignore[union-attr]
    return verts, _fan(polys)


def _ply_ascii_element(name, count, props, rows):
    columns: dict[str, list] = {p[0]: [] for p in props}
    for i in range(count):
        line = next(rows, None)
        if line is None:
            raise MeshFormatError(f"truncated PLY: element {name!r} has {i} of {count} rows")
        tok, k = line.split(), 0
        try:
            for prop, _dtype, list_dtype in props:
                if list_dtype is None:
                    columns[prop].append(float(tok[k]))
                    k += 1
                else:
                    n = int(tok[k])
                    columns[prop].append([int(float(t)) for t in tok[k + 1 : k + 1 + n]])
                    if len(columns[prop][-1]) != n:
                        raise IndexError("list shorter than its count")
                    k += 1 + n
        except (ValueError, IndexError) as err:
            raise MeshFormatError(f"malformed PLY {name!r} row {i}: {line!r} ({err})") from None
    return columns, rows


def _ply_binary_element(data, pos, name, count, props, endian):
    def need(at: int, nbytes: int) -> None:
        if at + nbytes > len(data):
            raise MeshFormatError(
                f"truncated PLY: element {name!r} needs {nbytes} bytes at offset {at}, "
                f"file has {len(data) - at}"
            )

    def read(at: int, dtype: str, n: int = 1) -> np.ndarray:
        dt = np.dtype(endian + dtype)
        need(at, dt.itemsize * n)
        return np.frombuffer(data, dt, n, at)

    if count == 0:
        return {p[0]: [] for p in props}, pos
    # Fast path: every row has the list lengths of the first row (e.g. all triangles).
    fields, at = [], pos
    for prop, dtype, list_dtype in props:
        if list_dtype is None:
            fields.append((prop, endian + dtype))
            at += np.dtype(dtype).itemsize
        else:
            n = int(read(at, list_dtype)[0])
            fields += [(prop + "#n", endian + list_dtype), (prop, endian + dtype, (n,))]
            at += np.dtype(list_dtype).itemsize + n * np.dtype(dtype).itemsize
    row = np.dtype(fields)
    if pos + row.itemsize * count <= len(data):
        arr = np.frombuffer(data, row, count, pos)
        lists = [p[0] for p in props if p[2] is not None]
        if all((arr[k + "#n"] == arr[k].shape[1]).all() for k in lists):
            return {p[0]: arr[p[0]] for p in props}, pos + row.itemsize * count
    columns: dict[str, list] = {p[0]: [] for p in props}
    for _ in range(count):  # rows of varying length: walk them one by one
        for prop, dtype, list_dtype in props:
            if list_dtype is None:
                columns[prop].append(read(pos, dtype)[0])
                pos += np.dtype(dtype).itemsize
            else:
                n = int(read(pos, list_dtype)[0])
                pos += np.dtype(list_dtype).itemsize
                columns[prop].append(read(pos, dtype, n))
                pos += n * np.dtype(dtype).itemsize
    return columns, pos


def _ply_bytes(verts: np.ndarray, faces: np.ndarray, binary: bool) -> bytes:
    fmt = "binary_little_endian" if binary else "ascii"
    header = (
        f"ply\nformat {fmt} 1.0\ncomment ros_pose_estimation\n"
        f"element vertex {len(verts)}\nproperty float x\nproperty float y\nproperty float z\n"
        f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode()
    if not binary:
        rows = [f"{x:.9g} {y:.9g} {z:.9g}" for x, y, z in verts]
        rows += [f"3 {a} {b} {c}" for a, b, c in faces]
        return header + ("\n".join(rows) + "\n").encode()
    face_rec = np.zeros(len(faces), dtype=[("n", "u1"), ("idx", "<i4", 3)])
    face_rec["n"], face_rec["idx"] = 3, faces
    return header + verts.astype("<f4").tobytes() + face_rec.tobytes()
