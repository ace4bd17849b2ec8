"""Instance masks on chips: polygon clipping and the affine map of a chip (NumPy only).

A chip maps ORIGINAL pixels to CHIP pixels by ``CHIP = ORIGINAL * (sx, sy) + (tx, ty)``
(see ``ChipGenerator._cut``) and shows only ``[0, pw] x [0, ph]`` of it (the filled part,
before padding). A polygon goes through the chip exactly as the image does: map its
vertices, clip it to that rectangle. No raster is made, so a polygon of a huge object
costs its vertices, never its area.

Polygons follow COCO: a flat ``[x0, y0, x1, y1, ...]`` in a frame where pixel ``c``
spans ``[c, c + 1)``; an object is a list of polygons whose union is the mask.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ['clip_polygon', 'map_polygons']


def _clip_side(pts: np.ndarray, axis: int, bound: float, keep_below: bool) -> np.ndarray:
    """One Sutherland-Hodgman pass: the part of a closed polygon on one side of
    ``x[axis] = bound`` (``keep_below``: ``<=``, else ``>=``)."""
    n = len(pts)
    if n == 0:
        return pts
    v = pts[:, axis] - bound
    inside = v <= 0 if keep_below else v >= 0
    nxt = np.roll(np.arange(n), -1)
    out = []
    for i in range(n):
        j = nxt[i]
        a, b = pts[i], pts[j]
        if inside[i]:
            out.append(a)
        if inside[i] != inside[j]:  # the edge crosses the line: add the crossing point
            t = v[i] / (v[i] - v[j])
            p = a + t * (b - a)
            p[axis] = bound  # exactly on the side (no rounding drift)
            out.append(p)
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


def clip_polygon(poly: np.ndarray, rect: Sequence[float]) -> np.ndarray:
    """The part of a polygon inside an axis-aligned rectangle.

    Sutherland-Hodgman against the rectangle's four sides: exact for any simple polygon
    (convex or not) because the rectangle is convex. Where the polygon leaves the
    rectangle and comes back, the result runs along the rectangle's side between the two
    crossings (a zero-width bridge): it covers no pixel, so the raster is the crop of the
    polygon's raster.

    Args:
        poly (ndarray[2K] | ndarray[K, 2]): vertices ``(x, y)``, any frame.
        rect (Sequence[float]): ``(x1, y1, x2, y2)`` in the same frame.

    Returns:
        ndarray[2M] float64: the clipped polygon, flat; empty (``M = 0``) when nothing of
        it is inside; ``M >= 3`` otherwise.
    """
    pts = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
    x1, y1, x2, y2 = (float(v) for v in rect)
    for axis, bound, below in ((0, x1, False), (0, x2, True), (1, y1, False), (1, y2, True)):
        pts = _clip_side(pts, axis, bound, below)
        if len(pts) < 3:
            return np.zeros(0, dtype=np.float64)
    return pts.reshape(-1)


def map_polygons(polys: Sequence[np.ndarray], affine: Sequence[float],
                 rect: Sequence[float]) -> list[np.ndarray]:
    """One object's polygons through a chip: affine map, then clip.

    Args:
        polys (list[ndarray[2K]]): ORIGINAL pixels.
        affine (Sequence[float]): ``(sx, sy, tx, ty)``: CHIP = ORIGINAL * s + t.
        rect (Sequence[float]): the part of the chip the image fills, CHIP pixels
            ``(0, 0, pw, ph)``.

    Returns:
        list[ndarray[2M] float32]: the object's non-empty clipped polygons, CHIP pixels
        (possibly none: the object shows only outside its polygons' reach).
    """
    sx, sy, tx, ty = (float(v) for v in affine)
    out = []
    for p in polys:
        q = np.asarray(p, dtype=np.float64).reshape(-1, 2) * (sx, sy) + (tx, ty)
        c = clip_polygon(q, rect)
        if len(c):
            out.append(c.astype(np.float32))
    return out
