"""A pure TF buffer (no ROS): time-interpolated transforms along the tree of frames.

Like ``tf2``'s ``BufferCore`` for a recorded bag: every frame has one parent; an edge is
either static (``/tf_static``, valid at all times) or a time series of transforms (``/tf``).
:meth:`TFBuffer.lookup` walks both frames up to their closest common ancestor and composes the
edges, each interpolated at the requested stamp: translation linearly, rotation by SLERP
between the two samples around the stamp. Stamps are integer nanoseconds, transforms
``[4 x 4]`` ``T_parent_child`` (maps child coordinates into the parent, metres), quaternions
(x, y, z, w) as in ``geometry_msgs``. Frame ids are compared without a leading ``/`` (ROS 1).

A lookup outside an edge's recorded time span by more than ``max_extrapolation`` seconds, or
between two samples more than ``max_gap`` seconds apart, raises :class:`TFLookupError`
(tf2 refuses extrapolation too); so does a frame not in the tree or two unconnected frames.

Used for whole recordings (bag extraction, ``offline_training.bags``: everything kept) and
live (the node's world-frame fusion without ``tf2_ros``, :mod:`ros_pose_estimation.node.
camera_pose`: ``cache_s`` bounds each edge to its newest seconds, as tf2's cache time does).
Not thread-safe: a live user serialises ``add`` and ``lookup`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.core.rotations import matrix_to_quat
from ros_pose_estimation.core.so3 import quat_to_matrix_fast

_NS = 1_000_000_000


class TFLookupError(InputError):
    """A transform is not available: unknown frame, unconnected frames, extrapolation, gap."""


def _strip(frame: str) -> str:
    return str(frame).lstrip("/")


@dataclass
class _Edge:
    parent: str
    static: bool
    stamps: list[int] = field(default_factory=list)
    transforms: list[np.ndarray] = field(default_factory=list)
    newest: int = -(2**62)
    _sorted: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    _n_sorted: int = 0  # samples in _sorted (the first ones of the lists)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``([T] stamps, [T x 4] quaternions, [T x 3] translations)`` sorted by stamp. Samples
        appended in stamp order since the last call are converted alone (a live stream)."""
        n, done = len(self.stamps), self._n_sorted
        if self._sorted is not None and done == n:
            return self._sorted
        new = self.stamps[done:]
        if (self._sorted is not None and done and new[0] >= self._sorted[0][-1]
                and all(a <= b for a, b in zip(new, new[1:], strict=False))):  # fmt: skip
            stamps, quats, trans = _convert(new, self.transforms[done:])
            old = self._sorted
            self._sorted = (np.concatenate([old[0], stamps]), np.concatenate([old[1], quats]),
                            np.concatenate([old[2], trans]))  # fmt: skip
        else:
            order = np.argsort(np.asarray(self.stamps, dtype=np.int64), kind="stable")
            self._sorted = _convert([self.stamps[i] for i in order],
                                    [self.transforms[i] for i in order])  # fmt: skip
        self._n_sorted = n
        return self._sorted


def _convert(stamps: list[int], transforms: list[np.ndarray]) -> tuple:
    mats = np.stack(transforms)
    quats = np.asarray(matrix_to_quat(mats[:, :3, :3]))
    return np.asarray(stamps, dtype=np.int64), quats, mats[:, :3, 3]


def _slerp(q0: np.ndarray, q1: np.ndarray, w: float) -> np.ndarray:
    """Spherical interpolation from ``q0`` (w=0) to ``q1`` (w=1), shortest path."""
    dot = float(np.dot(q0, q1))
    if dot < 0.0:
        q1, dot = -q1, -dot
    if dot > 0.9995:  # nearly equal: linear is exact enough and stable
        q = q0 + w * (q1 - q0)
    else:
        theta = np.arccos(min(dot, 1.0))
        q = (np.sin((1 - w) * theta) * q0 + np.sin(w * theta) * q1) / np.sin(theta)
    return q / np.linalg.norm(q)


def transform_from_msg(transform) -> np.ndarray:
    """``geometry_msgs/Transform`` (rclpy or rosbags) -> ``[4 x 4]`` float64."""
    r, t = transform.rotation, transform.translation
    out = np.eye(4)
    out[:3, :3] = quat_to_matrix_fast((r.x, r.y, r.z, r.w))
    out[:3, 3] = (t.x, t.y, t.z)
    return out


class TFBuffer:
    """Transforms of a whole recording, looked up at any stamp (see the module docstring).

    Args:
        max_extrapolation: seconds a lookup may lie outside an edge's recorded span (the
            nearest sample is used there).
        max_gap: largest time (s) between the two samples a lookup interpolates between.
        cache_s: keep only the samples of each moving edge within this many seconds of its
            newest one (None: keep all, for a recording); memory stays bounded for a live
            stream.
    """

    def __init__(
        self, max_extrapolation: float = 0.05, max_gap: float = 1.0, cache_s: float | None = None
    ) -> None:
        if cache_s is not None and not cache_s > 0:
            raise InputError(f"cache_s: expected a time > 0 (s) or None, got {cache_s!r}")
        self.max_extrapolation_ns = round(max_extrapolation * _NS)
        self.max_gap_ns = round(max_gap * _NS)
        self.cache_ns = None if cache_s is None else round(cache_s * _NS)
        self._edges: dict[str, _Edge] = {}
        #: transforms ignored: the child already has another parent, or a /tf sample for an
        #: edge /tf_static defines
        self.conflicts = 0

    def add(self, parent: str, child: str, stamp_ns: int, transform, static: bool) -> None:
        """Record ``T_parent_child`` (``[4 x 4]``) at ``stamp_ns`` (ignored for static)."""
        parent, child = _strip(parent), _strip(child)
        mat = np.asarray(transform, dtype=np.float64)
        if mat.shape != (4, 4) or not np.all(np.isfinite(mat)):
            raise InputError(f"transform {parent} -> {child}: expected finite [4 x 4], got {mat}")
        edge = self._edges.get(child)
        if edge is None or (static and not edge.static):
            edge = self._edges[child] = _Edge(parent, static)
        elif edge.parent != parent or (edge.static and not static):
            self.conflicts += 1
            return
        if edge.static:
            edge.stamps, edge.transforms = [0], [mat]
            edge._sorted = None
        else:
            edge.stamps.append(int(stamp_ns))
            edge.transforms.append(mat)
            if self.cache_ns is not None:
                self._prune(edge, int(stamp_ns))

    def _prune(self, edge: _Edge, stamp: int) -> None:
        """Drop ``edge``'s samples older than ``cache_s`` before its newest one (in batches of
        a tenth of the cache, so a steady stream costs amortised O(1) per sample)."""
        edge.newest = max(edge.newest, stamp)
        cutoff = edge.newest - self.cache_ns
        if edge.stamps[0] >= cutoff - self.cache_ns // 10:
            return
        keep = [i for i, s in enumerate(edge.stamps) if s >= cutoff]
        edge.stamps = [edge.stamps[i] for i in keep]
        edge.transforms = [edge.transforms[i] for i in keep]
        edge._sorted, edge._n_sorted = None, 0

    def add_message(self, msg, static: bool = False) -> int:
        """Add every transform of a ``tf2_msgs/TFMessage``; returns how many."""
        for tr in msg.transforms:
            stamp = int(tr.header.stamp.sec) * _NS + int(tr.header.stamp.nanosec)
            self.add(
                tr.header.frame_id,
                tr.child_frame_id,
                stamp,
                transform_from_msg(tr.transform),
                static,
            )
        return len(msg.transforms)

    @property
    def frames(self) -> set[str]:
        return set(self._edges) | {e.parent for e in self._edges.values()}

    def edges(self) -> list[tuple[str, str, bool]]:
        """``(parent, child, static)`` of every edge, sorted."""
        return sorted((e.parent, c, e.static) for c, e in self._edges.items())

    def _chain(self, frame: str) -> list[str]:
        chain = [frame]
        while chain[-1] in self._edges:
            parent = self._edges[chain[-1]].parent
            if parent in chain:
                raise TFLookupError(f"TF has a loop through {parent!r}")
            chain.append(parent)
        return chain

    def root(self, frame: str) -> str:
        """The top of ``frame``'s tree (e.g. ``world`` or ``map``)."""
        frame = _strip(frame)
        if frame not in self.frames:
            raise TFLookupError(f"frame {frame!r} is not in TF (frames: {sorted(self.frames)})")
        return self._chain(frame)[-1]

    def _edge_at(self, child: str, stamp: int) -> np.ndarray:
        edge = self._edges[child]
        if edge.static:
            return edge.transforms[0]
        stamps, quats, trans = edge.arrays()
        if stamp < stamps[0] - self.max_extrapolation_ns or stamp > (
            stamps[-1] + self.max_extrapolation_ns
        ):
            raise TFLookupError(
                f"{edge.parent} -> {child} at {stamp * 1e-9:.3f} s: extrapolation, TF covers "
                f"{stamps[0] * 1e-9:.3f} .. {stamps[-1] * 1e-9:.3f} s"
            )
        i = int(np.searchsorted(stamps, stamp))
        out = np.eye(4)
        if i == 0 or i == len(stamps) or stamps[i] == stamp:
            j = min(i, len(stamps) - 1)
            out[:3, :3] = quat_to_matrix_fast(quats[j])
            out[:3, 3] = trans[j]
            return out
        t0, t1 = int(stamps[i - 1]), int(stamps[i])
        if t1 - t0 > self.max_gap_ns:
            raise TFLookupError(
                f"{edge.parent} -> {child} at {stamp * 1e-9:.3f} s: the samples around it are "
                f"{(t1 - t0) * 1e-9:.3f} s apart (max_gap {self.max_gap_ns * 1e-9:.3f} s)"
            )
        w = (stamp - t0) / (t1 - t0)
        out[:3, :3] = quat_to_matrix_fast(_slerp(quats[i - 1], quats[i], w))
        out[:3, 3] = (1 - w) * trans[i - 1] + w * trans[i]
        return out

    def _to_ancestor(self, chain: list[str], ancestor: str, stamp: int) -> np.ndarray:
        total = np.eye(4)
        for frame in chain[: chain.index(ancestor)]:
            total = self._edge_at(frame, stamp) @ total
        return total

    def lookup(self, target: str, source: str, stamp_ns: int) -> np.ndarray:
        """``[4 x 4]`` ``T_target_source`` at ``stamp_ns``: maps ``source`` coordinates into
        ``target`` (tf2's ``lookup_transform(target, source, time)``).

        Raises:
            TFLookupError: unknown frame, frames in different trees, extrapolation or gap.
        """
        target, source = _strip(target), _strip(source)
        if target == source:
            return np.eye(4)
        for frame in (target, source):
            if frame not in self.frames:
                raise TFLookupError(
                    f"frame {frame!r} is not in TF (frames: {sorted(self.frames)})"
                )
        up_source, up_target = self._chain(source), self._chain(target)
        common = next((f for f in up_source if f in up_target), None)
        if common is None:
            raise TFLookupError(
                f"frames {target!r} and {source!r} are not connected (roots "
                f"{up_target[-1]!r} and {up_source[-1]!r})"
            )
        stamp = int(stamp_ns)
        T_common_source = self._to_ancestor(up_source, common, stamp)
        T_common_target = self._to_ancestor(up_target, common, stamp)
        return np.linalg.inv(T_common_target) @ T_common_source
