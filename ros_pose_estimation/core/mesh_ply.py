"""PLY meshes (ascii, binary little- and big-endian): read vertex positions and faces, write
them (:mod:`.mesh_io` chooses the format by extension).

Reading keeps the ``vertex`` element's ``x, y, z`` and the ``face`` element's
``vertex_indices`` (or ``vertex_index``) lists, triangulated as fans; every other element and
property is parsed past and dropped. Binary bodies whose rows all have the first row's list
lengths (e.g. all triangles) are read as one structured array; others row by row. Pure numpy.
"""

from __future__ import annotations

import numpy as np

from ros_pose_estimation.core.errors import MeshFormatError
from ros_pose_estimation.core.mesh import fan_triangles

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}  # fmt: skip


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


def read_ply(data: bytes) -> tuple[np.ndarray, np.ndarray]:
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
    return verts, fan_triangles(polys)


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


def ply_bytes(verts: np.ndarray, faces: np.ndarray, binary: bool) -> bytes:
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
