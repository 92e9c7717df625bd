"""The z-buffer of :func:`.rasterizer.rasterize` (its steps 2-4): which face is nearest at each
pixel centre. No autograd: the result is piecewise constant in the pose.

Per face and pose (``[B x F]``, poses in chunks of about ``max_fragments / F``): the first
pixel centre of the face's screen box and the face's edge functions there, densely over all
faces (at feature resolution most boxes hold at most one pixel centre), then one compaction
keeps the fragments inside their face. Faces whose box holds more pixel centres: a fixed 2 x 2
stencil for boxes up to 2 x 2 pixels and, for larger faces, an enumeration of every box pixel
(:func:`box_pixels`) in chunks of ``max_fragments``, with the barycentric and 1/z planes affine
in the integer offset from the box's first pixel (small offsets: no float32 cancellation,
whatever the image size). Then one ``scatter_reduce(amin)`` over int64 keys
``float32 depth bits << 32 | face``: the nearest surface wins, ties go to the lower face index.

A pixel centre exactly on an edge is inside (with a relative tolerance of ~1e-5 for float32),
so meshes render without cracks.
"""

from __future__ import annotations

import itertools

import torch

_INT64_MAX = torch.iinfo(torch.int64).max
_INSIDE_EPS = {torch.float32: 1e-5, torch.float64: 1e-10}


def _setup_faces(uv, z, faces, h, w, cull_backfaces, z_near):
    """Per face and pose (batch-major, entry ``b * F + f``): the first pixel centre of the face's
    screen box and the face's edge functions there.

    Returns a dict of ``[B x F]`` tensors: ``x0, y0``, the box's first pixel (clamped to
    ``[0, W] x [0, H]``; column W and row H are padding); ``multi`` (bool: the box may hold
    more than one pixel centre); ``rcp``, 1 / (twice the signed area; < 0 for a front face);
    of ``[3 x B x F]`` tensors (one per corner): ``qu, qv``, the corners relative to the first
    pixel (px); ``cross``, ``q_{i+1} x q_{i+2}`` (the barycentric ``l_i`` at the first pixel
    times twice the area); and ``fz`` ``[B x 3 x F]``, the corners' depth (m). Faces to skip (a
    vertex nearer than ``z_near``, culled) have NaN coordinates or area, so every inside test
    on them is False without extra masks.
    """
    bc, nv = z.shape
    f = faces.shape[0]
    nan = torch.tensor(float("nan"), dtype=uv.dtype, device=uv.device)
    beyond = z > z_near
    comp = [torch.where(beyond, uv[..., 0], nan), torch.where(beyond, uv[..., 1], nan), z]
    comp = torch.stack(comp, 0).view(3 * bc, nv)
    g = comp.index_select(1, faces.t().reshape(-1)).view(3, bc, 3, f)  # [uvz, B, corner, F]
    u, v, fz = g[0], g[1], g[2]  # [B x 3 x F]
    x0 = torch.minimum(torch.minimum(u[:, 0], u[:, 1]), u[:, 2]).clamp_(0.0, float(w)).ceil_()
    y0 = torch.minimum(torch.minimum(v[:, 0], v[:, 1]), v[:, 2]).clamp_(0.0, float(h)).ceil_()
    qu, qv, cross = uv.new_empty(3, bc, f), uv.new_empty(3, bc, f), uv.new_empty(3, bc, f)
    for k in range(3):
        torch.sub(u[:, k], x0, out=qu[k])
        torch.sub(v[:, k], y0, out=qv[k])
    for i in range(3):
        j, k = (i + 1) % 3, (i + 2) % 3
        torch.mul(qu[j], qv[k], out=cross[i]).sub_(qu[k] * qv[j])
    area = cross[0] + cross[1] + cross[2]
    # more than one pixel centre in the box (NaN, i.e. near-plane faces: False)
    ext_u = torch.maximum(torch.maximum(qu[0], qu[1]), qu[2])  # box = x0 + [0, ext_u]
    ext_v = torch.maximum(torch.maximum(qv[0], qv[1]), qv[2])
    multi = (torch.maximum(ext_u, ext_v) >= 1) & (torch.minimum(ext_u, ext_v) >= 0)
    if cull_backfaces:  # < 0: front face (image y points down)
        back = area >= 0
        area.masked_fill_(back, float("nan"))
        multi &= ~back
    return dict(
        x0=x0, y0=y0, multi=multi, rcp=area.reciprocal_(), qu=qu, qv=qv, cross=cross, fz=fz
    )


def _keys(inv_z: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
    """z-buffer keys: the float32 depth's bits (monotonic for positive floats) above the face
    index, so ``amin`` keeps the nearest fragment and breaks ties by the lower face index."""
    depth = torch.where(inv_z > 0, 1.0 / inv_z, float("inf")).float()  # never negative
    return (depth.view(torch.int32).to(torch.int64) << 32) | face


def _corner_depths(fz: torch.Tensor, bf: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
    """``[3 x N]`` corner depths of faces ``bf = b * F + f`` from ``fz [B x 3 x F]``."""
    f = fz.shape[2]
    at = bf + batch * (2 * f)  # index of corner 0 in the flat [B x 3 x F]
    return fz.reshape(-1)[torch.stack([at, at + f, at + 2 * f])]


def _first_pixel_fragments(s, h, w, eps):
    """Fragments at each face's first box pixel (at feature resolution most boxes hold a single
    pixel centre): dense over all faces, then one compaction.

    Returns the inside fragments' flat pixel index in the padded ``[B x (H+1) x (W+1)]``
    buffer of the chunk and their z-buffer keys, ``[N]`` each.
    """
    f = s["x0"].shape[1]
    lam = s["cross"] * s["rcp"]  # [3 x B x F] barycentrics at the first pixel
    inside = torch.minimum(torch.minimum(lam[0], lam[1]), lam[2]) >= -eps  # NaN: False
    bf = torch.nonzero(inside.view(-1)).squeeze(1)  # b * F + f
    batch = torch.div(bf, f, rounding_mode="floor")
    lam = lam.view(3, -1).index_select(1, bf)
    inv_z = (lam / _corner_depths(s["fz"], bf, batch)).sum(0)
    col = s["x0"].view(-1).index_select(0, bf).long()
    row = s["y0"].view(-1).index_select(0, bf).long()
    pix = batch * ((h + 1) * (w + 1)) + row * (w + 1) + col
    return pix, _keys(inv_z, bf - batch * f)


def _box_fragments(s, h, w, eps, max_fragments):
    """Fragments at the other pixels of faces whose box holds more than one pixel centre,
    enumerated in chunks of at most ``max_fragments``. Yields ``(pixel index, key)``."""
    f = s["x0"].shape[1]
    bf = torch.nonzero(s["multi"].view(-1)).squeeze(1)
    if bf.numel() == 0:
        return
    batch = torch.div(bf, f, rounding_mode="floor")
    x0, y0 = s["x0"].view(-1).index_select(0, bf), s["y0"].view(-1).index_select(0, bf)
    qu, qv = s["qu"].view(3, -1).index_select(1, bf), s["qv"].view(3, -1).index_select(1, bf)
    nx = (qu.amax(0).add_(x0).clamp_(max=w - 1.0).floor_() - x0 + 1).clamp_(min=0).long()
    ny = (qv.amax(0).add_(y0).clamp_(max=h - 1.0).floor_() - y0 + 1).clamp_(min=0).long()
    base = batch * ((h + 1) * (w + 1)) + y0.long() * (w + 1) + x0.long()
    rcp = s["rcp"].view(-1).index_select(0, bf)
    inv_fz = 1.0 / _corner_depths(s["fz"], bf, batch)
    # l_i(d) = cross(q_{i+1} - d, q_{i+2} - d) * rcp = a_i du + b_i dv + c_i, with d = (du, dv)
    a = (qv.roll(-1, 0) - qv.roll(-2, 0)) * rcp
    b = (qu.roll(-2, 0) - qu.roll(-1, 0)) * rcp
    c = s["cross"].view(3, -1).index_select(1, bf) * rcp
    coef = torch.stack([torch.cat([p, (p * inv_fz).sum(0, keepdim=True)]) for p in (a, b, c)])
    face = bf - batch * f
    # boxes of at most 2 x 2 pixels (most, at feature resolution): a fixed stencil, no gathers
    small = (nx <= 2) & (ny <= 2)
    for du, dv in ((1, 0), (0, 1), (1, 1)):
        vals = coef[2] + du * coef[0] + dv * coef[1]  # [4 x C]: l0, l1, l2, 1/z
        lmin = torch.minimum(torch.minimum(vals[0], vals[1]), vals[2])
        sel = torch.nonzero(small & (nx > du) & (ny > dv) & (lmin >= -eps)).squeeze(1)
        yield base[sel] + (dv * (w + 1) + du), _keys(vals[3, sel], face[sel])
    big = torch.nonzero(~small).squeeze(1)
    if big.numel() == 0:
        return
    coef, base, face = coef.view(12, -1)[:, big], base[big], face[big]
    for rep, du, dv in box_pixels(nx[big], ny[big], max_fragments, skip_first=True):
        cf = coef.index_select(1, rep)  # rows (a, b, c) x (l0, l1, l2, 1/z)
        vals = torch.addcmul(cf[8:12], cf[0:4], du.to(cf.dtype)).addcmul_(cf[4:8], dv.to(cf.dtype))
        lmin = torch.minimum(torch.minimum(vals[0], vals[1]), vals[2])
        sel = torch.nonzero(lmin >= -eps).squeeze(1)
        r = rep[sel]
        yield base[r] + dv[sel] * (w + 1) + du[sel], _keys(vals[3, sel], face[r])


def box_pixels(nx: torch.Tensor, ny: torch.Tensor, max_items: int, skip_first: bool = False):
    """Enumerate the pixels of boxes of ``nx [N] x ny [N]`` pixels (int64), row-major, in
    chunks of at most ``max_items`` (a box larger than that is a chunk of its own).

    Yields ``(box [M], du [M], dv [M])`` int64: box index and offset from its first pixel.
    ``skip_first`` leaves out each box's first pixel (offset 0, 0).
    """
    skip = int(skip_first)
    count = (nx * ny - skip).clamp_(min=0)
    for start, stop in _chunks(count, max_items):
        cnt = count[start:stop]
        n = int(cnt.sum())
        if n == 0:
            continue
        rep = torch.repeat_interleave(
            torch.arange(start, stop, device=nx.device), cnt, 0, output_size=n
        )
        first = torch.cumsum(cnt, 0).sub_(cnt).sub_(skip)
        local = torch.arange(n, device=nx.device) - first.index_select(0, rep - start)
        width = nx.index_select(0, rep)
        dv = torch.div(local, width, rounding_mode="floor")
        yield rep, local - dv * width, dv


def _chunks(count: torch.Tensor, max_fragments: int) -> list[tuple[int, int]]:
    """Split faces into consecutive ranges of at most ``max_fragments`` fragments (a single
    face larger than that is a range of its own)."""
    total = int(count.sum())
    if total <= max_fragments:
        return [(0, count.numel())]
    cum = torch.cumsum(count, 0)
    ranges, start, done = [], 0, 0
    while start < count.numel():
        stop = max(int(torch.searchsorted(cum, done + max_fragments, right=True)), start + 1)
        ranges.append((start, stop))
        done, start = int(cum[stop - 1]), stop
    return ranges


@torch.no_grad()
def zbuffer(uv, z, faces, h, w, cull_backfaces, z_near, max_fragments) -> torch.Tensor:
    """``[B x H x W]`` int64 index of the nearest face at each pixel centre (-1: none).

    Poses are processed in chunks of about ``max_fragments / F`` so that the per-face
    temporaries (~150 bytes per face and pose) stay bounded.
    """
    uv, z = uv.detach(), z.detach()
    b, f = uv.shape[0], faces.shape[0]
    keys = torch.full((b, (h + 1) * (w + 1)), _INT64_MAX, dtype=torch.int64, device=uv.device)
    eps = _INSIDE_EPS[uv.dtype]
    step = max(1, max_fragments // max(f, 1))
    for b0 in range(0, b if f else 0, step):
        s = _setup_faces(
            uv[b0 : b0 + step], z[b0 : b0 + step], faces, h, w, cull_backfaces, z_near
        )
        chunk = keys[b0 : b0 + step].view(-1)
        parts = [_first_pixel_fragments(s, h, w, eps)]
        for pix, key in itertools.chain(parts, _box_fragments(s, h, w, eps, max_fragments)):
            chunk.scatter_reduce_(0, pix, key, reduce="amin", include_self=True)
    keys = keys.view(b, h + 1, w + 1)[:, :h, :w]  # drop the padding column and row
    return torch.where(keys == _INT64_MAX, -1, keys & 0xFFFFFFFF)
