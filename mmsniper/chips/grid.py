"""Chip grids: inference on pyramid levels too large to process as one image.

Frames: "original" pixels are the image file's; "scaled" pixels are original x the
level's factor ``s``; "chip" pixels are scaled pixels minus the window's top-left corner.

A level of ``scaled_w x scaled_h`` pixels is covered by a grid of ``chip_size`` windows
that overlap by at least ``overlap`` scaled pixels along each axis. Every detection a chip
returns is kept by exactly one rule-abiding chip, which makes each object that is at most
``overlap - 2 * border_tol - 1`` scaled pixels along each axis found exactly once:

1. Fragments: a detection touching an INTERIOR side of its window (within
   ``border_tol``; sides on the image border do not count) may be a cut object; it is
   dropped. A small object is held whole by some window that it does not touch, so
   nothing is lost -- see 3.
2. Duplicates: an object held whole by two overlapping windows is detected twice. Each
   window owns a "core": the axis intervals between the middles of its overlaps with
   its neighbours (the outer cores reach to infinity). The cores tile the plane, so a
   detection is kept only by the window whose core holds its centre.
3. Why that window holds it whole: along one axis, let the window start at ``a``, its
   left neighbour's overlap with it be ``o >= overlap`` wide, and the object's extent be
   ``e <= overlap - 2 * border_tol - 1``. A centre ``c >= a + o / 2`` puts the object's
   left edge at ``c - e / 2 >= a + border_tol + 1/2``: inside, clear of the side. The
   right side is the same. Larger objects may be lost or cut; the level's valid range
   (in ORIGINAL pixels) must keep them out, so pick ``overlap`` from it
   (:func:`min_overlap`).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ._checks import as_boxes, as_image_size, as_positive_int


class ChipGrid(NamedTuple):
    """The chip windows of one level and the rules that keep each detection once.

    Attributes:
        windows (ndarray[M, 4] float64): ``(x1, y1, x2, y2)`` in SCALED pixels, whole
            numbers, inside the scaled image, at most ``chip_size`` per side; x-start
            major (``index = ix * ny + iy``).
        cores (ndarray[M, 4] float64): ``(x1, y1, x2, y2)`` of each window's core in
            SCALED pixels, half-open ``[x1, x2) x [y1, y2)``; ``-inf`` / ``inf`` where the
            window lies on the image border. The cores tile the plane.
        interior (ndarray[M, 4] bool): which sides ``(left, top, right, bottom)`` of each
            window lie inside the image (a cut there makes fragments).
    """

    windows: np.ndarray
    cores: np.ndarray
    interior: np.ndarray


#: Window layouts along an axis (:func:`grid_starts`).
GRID_LAYOUTS = ('spread', 'stride')


def grid_starts(size: int, chip_size: int, overlap: int, layout: str = 'spread') -> np.ndarray:
    """Window starts along one axis: as few as keep every overlap ``>= overlap``.

    ``n = ceil((size - overlap) / (chip_size - overlap))`` windows from ``0`` to
    ``size - chip_size``, so every consecutive pair overlaps by at least ``overlap``:

    - ``'spread'``: spread evenly (rounded to whole pixels), all overlaps about equal;
    - ``'stride'``: at ``0, step, 2 * step, ...`` (``step = chip_size - overlap``) and
      the last one flush with the end, so only the last overlap is larger: SAHI's
      ``slice_image`` layout with ``overlap = int(overlap_ratio * chip_size)``.

    An axis no longer than ``chip_size`` gets one window at 0 (clipped to the image by
    :func:`chip_grid`).

    Args:
        size (int): length of the axis in scaled pixels.
        chip_size (int): window length in scaled pixels.
        overlap (int): least overlap of neighbouring windows, ``0 <= overlap < chip_size``.
        layout (str): ``'spread'`` (default) or ``'stride'``.

    Returns:
        ndarray[n] int64: increasing starts; the last is ``max(size - chip_size, 0)``.
    """
    size = as_positive_int(size, 'size')
    chip_size = as_positive_int(chip_size, 'chip_size')
    overlap = _check_overlap(overlap, chip_size)
    if layout not in GRID_LAYOUTS:
        raise ValueError(f'layout: expected one of {GRID_LAYOUTS}, got {layout!r}')
    if size <= chip_size:
        return np.zeros(1, dtype=np.int64)
    stride = chip_size - overlap
    n = -(-(size - overlap) // stride)  # ceil; n >= 2 because size > chip_size
    if layout == 'stride':
        return np.r_[np.arange(n - 1, dtype=np.int64) * stride, size - chip_size]
    span = size - chip_size
    k = np.arange(n, dtype=np.int64)
    # Round k * span / (n - 1) half up in integers: consecutive gaps are floor or ceil
    # of span / (n - 1) <= stride, so overlaps are >= overlap.
    return (2 * k * span + (n - 1)) // (2 * (n - 1))


def _check_overlap(overlap: object, chip_size: int) -> int:
    if isinstance(overlap, bool) or not isinstance(overlap, (int, float, np.integer,
                                                             np.floating)):
        raise ValueError(f'overlap: expected an integer in [0, {chip_size}), got {overlap!r}')
    if not (math.isfinite(overlap) and int(overlap) == overlap and 0 <= overlap < chip_size):
        raise ValueError(f'overlap: expected an integer in [0, chip_size={chip_size}), '
                         f'got {overlap!r}')
    return int(overlap)


def _axis(size: int, chip_size: int, overlap: int, layout: str):
    """Starts, ends, core bounds and interior flags along one axis."""
    starts = grid_starts(size, chip_size, overlap, layout).astype(np.float64)
    ends = np.minimum(starts + chip_size, size)
    # Core boundary between windows k and k + 1: the middle of their overlap.
    mids = (starts[1:] + ends[:-1]) / 2.0
    lo = np.concatenate([[-np.inf], mids])
    hi = np.concatenate([mids, [np.inf]])
    return starts, ends, lo, hi, starts > 0, ends < size


def chip_grid(scaled_size: tuple[int, int], chip_size: int = 1024,
              overlap: int = 256, layout: str = 'spread') -> ChipGrid:
    """The overlapping chip grid of one level.

    Args:
        scaled_size (tuple[int, int]): ``(w, h)`` of the scaled image, whole pixels.
        chip_size (int): side of a window in scaled pixels.
        overlap (int): least overlap of neighbouring windows in scaled pixels,
            ``0 <= overlap < chip_size``; see :func:`min_overlap`.
        layout (str): where the windows go along each axis, see :func:`grid_starts`.

    Returns:
        ChipGrid: the windows, their cores and their interior sides.
    """
    w, h = as_image_size(scaled_size)
    w, h = as_positive_int(w, 'scaled_size[0]'), as_positive_int(h, 'scaled_size[1]')
    chip_size = as_positive_int(chip_size, 'chip_size')
    overlap = _check_overlap(overlap, chip_size)
    xs, xe, xlo, xhi, xin_l, xin_r = _axis(w, chip_size, overlap, layout)
    ys, ye, ylo, yhi, yin_t, yin_b = _axis(h, chip_size, overlap, layout)
    ix = np.repeat(np.arange(len(xs)), len(ys))
    iy = np.tile(np.arange(len(ys)), len(xs))
    windows = np.stack([xs[ix], ys[iy], xe[ix], ye[iy]], axis=1)
    cores = np.stack([xlo[ix], ylo[iy], xhi[ix], yhi[iy]], axis=1)
    interior = np.stack([xin_l[ix], yin_t[iy], xin_r[ix], yin_b[iy]], axis=1)
    return ChipGrid(windows, cores, interior)


def grid_keep(grid: ChipGrid, boxes_scaled: np.ndarray, chip_index: np.ndarray,
              border_tol: float = 2.0) -> np.ndarray:
    """Which chip detections to keep: no fragments (rule 1), no duplicates (rule 2).

    Args:
        grid (ChipGrid): the level's grid, from :func:`chip_grid`.
        boxes_scaled (ndarray[N, 4] float): detections ``(x1, y1, x2, y2)`` in SCALED
            pixels (chip pixels plus their window's corner), clipped to their window as
            detectors clip to the image.
        chip_index (ndarray[N] int): the window each detection came from.
        border_tol (float): a box side within this many scaled pixels of an interior
            window side touches it.

    Returns:
        ndarray[N] bool: True for the detections to keep.
    """
    boxes = as_boxes(boxes_scaled, 'boxes_scaled')
    idx = np.asarray(chip_index)
    if idx.shape != (len(boxes),) or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
        raise ValueError(f'chip_index: expected {len(boxes)} integers, got shape {idx.shape} '
                         f'dtype {idx.dtype}')
    if idx.size and (idx.min() < 0 or idx.max() >= len(grid.windows)):
        raise ValueError(f'chip_index: expected values in [0, {len(grid.windows)}), got '
                         f'[{idx.min()}, {idx.max()}]')
    if not (math.isfinite(border_tol) and border_tol >= 0):
        raise ValueError(f'border_tol: expected >= 0, got {border_tol!r}')
    win, core, inner = grid.windows[idx], grid.cores[idx], grid.interior[idx]
    # 1. Fragments: a side within border_tol of an interior window side.
    touch = np.stack([boxes[:, 0] <= win[:, 0] + border_tol,
                      boxes[:, 1] <= win[:, 1] + border_tol,
                      boxes[:, 2] >= win[:, 2] - border_tol,
                      boxes[:, 3] >= win[:, 3] - border_tol], axis=1)
    whole = ~(touch & inner).any(axis=1)
    # 2. Duplicates: the window whose core holds the centre keeps the detection.
    cx = (boxes[:, 0] + boxes[:, 2]) / 2.0
    cy = (boxes[:, 1] + boxes[:, 3]) / 2.0
    owned = (cx >= core[:, 0]) & (cx < core[:, 2]) & (cy >= core[:, 1]) & (cy < core[:, 3])
    return whole & owned


def min_overlap(max_object_size: float, border_tol: float = 2.0) -> int:
    """Least grid overlap that finds every object up to ``max_object_size`` once.

    Args:
        max_object_size (float): the longest side, in SCALED pixels, of the objects the
            level must find (its valid range's upper end times ``s`` for objects no more
            elongated than a square of that ``sqrt(w * h)``).
        border_tol (float): as in :func:`grid_keep`.

    Returns:
        int: ``ceil(max_object_size + 2 * border_tol) + 1``.
    """
    if not (math.isfinite(max_object_size) and max_object_size >= 0):
        raise ValueError(f'max_object_size: expected a finite size >= 0, got '
                         f'{max_object_size!r}')
    if not (math.isfinite(border_tol) and border_tol >= 0):
        raise ValueError(f'border_tol: expected >= 0, got {border_tol!r}')
    return int(math.ceil(max_object_size + 2 * border_tol)) + 1
