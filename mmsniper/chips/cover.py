"""Positive chips: candidate windows and the greedy cover (SNIPER, Sec. 3.1).

Frames: "original" pixels are the image file's; "scaled" pixels are original x the
level's factor ``s``. Windows are integer-aligned in scaled pixels.

The cover is vectorised: the candidate windows of a level form a grid
``xs x ys`` of top-left corners, and "box inside window" is separable -- a box
``[x1, x2]`` fits a window starting at ``cx`` of width ``cw`` iff
``cx <= x1 and cx + cw >= x2`` -- so the candidates x boxes containment matrix is the
product of an x-mask ``[N, nx]`` and a y-mask ``[N, ny]``. The number of boxes each
candidate holds is then one matrix product, and after each pick only the newly
covered boxes' contribution is subtracted, so the whole greedy loop costs about
``nx * ny * N`` multiply-adds plus one ``argmax`` over the grid per chip.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ._checks import as_boxes, as_image_size, as_nonneg_float, as_positive_int, as_stride
from .chip import Chip, _window_box
from .scales import (
    Scale,
    box_sizes,
    level_bounds,
    range_mask,
    scale_factors,
    scaled_image_size,
    scaled_lengths,
)


def _starts(size: int, chip_size: int, stride: int) -> tuple[np.ndarray, int]:
    """Window starts along one axis and the window extent along it.

    A stride grid plus the window flush with the far edge; an axis no longer than
    the chip gets a single window clipped to the image.
    """
    if size <= chip_size:
        return np.zeros(1, dtype=np.float64), size
    last = size - chip_size
    starts = np.arange(0, last + stride, stride, dtype=np.float64)  # one past the grid
    starts[-1] = last  # ... replaced by the flush window (the grid stops before it)
    return starts, chip_size


def candidate_windows(scaled_w: int, scaled_h: int, chip_size: int = 512,
                      stride: int = 32) -> np.ndarray:
    """All candidate chip windows of one level.

    Windows start on a ``stride`` grid from the top-left corner, plus the windows
    flush with the right and bottom edges (hence the bottom-right corner); along a
    side no longer than ``chip_size`` the only window spans the whole side.

    Args:
        scaled_w (int): width of the scaled image, whole pixels.
        scaled_h (int): height of the scaled image, whole pixels.
        chip_size (int): side of a chip in scaled pixels.
        stride (int): grid step in scaled pixels.

    Returns:
        ndarray[M, 4] float64: ``(x1, y1, x2, y2)`` in scaled pixels, whole numbers,
        ordered x-start major (``index = ix * ny + iy``). Every window lies inside
        the image and is at most ``chip_size`` on each side.
    """
    sw = as_positive_int(scaled_w, 'scaled_w')
    sh = as_positive_int(scaled_h, 'scaled_h')
    chip_size = as_positive_int(chip_size, 'chip_size')
    stride = as_positive_int(stride, 'stride')
    xs, cw = _starts(sw, chip_size, stride)
    ys, ch = _starts(sh, chip_size, stride)
    x1 = np.repeat(xs, len(ys))
    y1 = np.tile(ys, len(xs))
    return np.stack([x1, y1, x1 + cw, y1 + ch], axis=1)


def greedy_cover(boxes_scaled: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Greedy set cover of boxes by windows (steps 3-4 of the positive chips).

    Repeatedly picks the candidate that holds the most boxes not yet held by a
    picked candidate, and stops when the best holds none. A box is held only if it
    lies fully inside (closed intervals). Ties go to the earliest candidate, so
    shuffle ``candidates`` to randomise them. Boxes no candidate holds stay
    uncovered. The loop runs at most ``N`` times.

    Args:
        boxes_scaled (ndarray[N, 4] float): ``(x1, y1, x2, y2)`` in scaled pixels.
        candidates (ndarray[M, 4] float): windows ``(x1, y1, x2, y2)`` in the same
            frame, e.g. from :func:`candidate_windows`.

    Returns:
        ndarray[K] int64: indices into ``candidates`` of the picked windows, in
        the order they were picked.
    """
    boxes = as_boxes(boxes_scaled, 'boxes_scaled')
    cands = as_boxes(candidates, 'candidates')
    if len(boxes) == 0 or len(cands) == 0:
        return np.zeros(0, dtype=np.int64)
    inside = ((cands[:, None, 0] <= boxes[None, :, 0]) & (cands[:, None, 1] <= boxes[None, :, 1])
              & (cands[:, None, 2] >= boxes[None, :, 2])
              & (cands[:, None, 3] >= boxes[None, :, 3]))
    counts = inside.sum(axis=1)
    uncovered = np.ones(len(boxes), dtype=bool)
    picks = []
    for _ in range(len(boxes)):
        k = int(counts.argmax())  # first maximum = earliest candidate
        if counts[k] == 0:
            break
        picks.append(k)
        newly = inside[k] & uncovered
        uncovered &= ~newly
        counts -= inside[:, newly].sum(axis=1)
    return np.asarray(picks, dtype=np.int64)


def _cover_grid(boxes: np.ndarray, scaled_w: int, scaled_h: int, chip_size: int, stride: int,
                rng: np.random.Generator | None) -> list[tuple[float, float, float, float]]:
    """Steps 2-4 on the separable grid; ``boxes`` (N >= 1) are checked float64.

    Returns the picked windows ``(x1, y1, x2, y2)`` in scaled pixels, in pick order.
    """
    xs, cw = _starts(scaled_w, chip_size, stride)
    ys, ch = _starts(scaled_h, chip_size, stride)
    nx, ny = len(xs), len(ys)
    m = nx * ny
    if m == 1:  # the image fits one chip: it holds every box, nothing to shuffle
        inside = ((boxes[:, 0] >= 0) & (boxes[:, 1] >= 0) & (boxes[:, 2] <= cw)
                  & (boxes[:, 3] <= ch))
        return [(0.0, 0.0, float(cw), float(ch))] if inside.any() else []
    # 2. Containment is separable: x-mask [N, nx] and y-mask [N, ny] (box-major, so
    # the rows of newly covered boxes gather cheaply in step 4).
    in_x = (boxes[:, :1] >= xs) & (boxes[:, 2:3] <= xs + cw)
    in_y = (boxes[:, 1:2] >= ys) & (boxes[:, 3:4] <= ys + ch)
    fx, fy = in_x.astype(np.float64), in_y.astype(np.float64)
    # 3. Shuffle: each candidate gets a tie-break u in [0, 1) -- iid uniform draws
    # (their order is a uniformly random permutation), or decreasing in grid order
    # without rng. key = count + u, so one argmax takes the most boxes and, among
    # equals, the earliest in shuffled order. Subtracting whole counts from key is
    # exact in float64, so u never drifts.
    if rng is None:
        u = np.arange(m, 0, -1, dtype=np.float64) / (m + 1)
    else:
        u = rng.random(m)
    key = fx.T @ fy + u.reshape(nx, ny)
    # 4. Greedy: each pick covers at least one new box, so at most N rounds.
    uncovered = np.ones(len(boxes), dtype=bool)
    windows = []
    for _ in range(len(boxes)):
        k = int(key.argmax())
        i, j = divmod(k, ny)
        if key[i, j] < 1.0:  # the best candidate holds no uncovered box
            break
        x1, y1 = float(xs[i]), float(ys[j])
        windows.append((x1, y1, x1 + cw, y1 + ch))
        newly = np.flatnonzero(in_x[:, i] & in_y[:, j] & uncovered)
        uncovered[newly] = False
        key -= fx[newly].T @ fy[newly]
    return windows


def _check_rng(rng: Any) -> None:
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise ValueError(f'rng: expected numpy.random.Generator or None, got {type(rng).__name__}')


def cover_windows(boxes_scaled: np.ndarray, scaled_size: tuple[int, int], chip_size: int = 512,
                  stride: int = 32, rng: np.random.Generator | None = None) -> np.ndarray:
    """Greedy cover of boxes by the candidate windows of one level (steps 2-4).

    Equivalent to ``greedy_cover(boxes_scaled, candidate_windows(...)[perm])`` with
    ``perm = np.argsort(-rng.random(M))``, but computed on the separable grid
    (fast for thousands of candidates and boxes). Boxes are used as given: clip
    them to the scaled image first if they may leave it; a box no window can hold
    stays uncovered.

    Args:
        boxes_scaled (ndarray[N, 4] float): ``(x1, y1, x2, y2)`` in scaled pixels.
        scaled_size (tuple[int, int]): ``(w, h)`` of the scaled image.
        chip_size (int): side of a chip in scaled pixels.
        stride (int): candidate grid step in scaled pixels.
        rng (numpy.random.Generator | None): draws the candidate shuffle (one
            ``rng.random(M)`` call when there is a box and more than one candidate:
            the candidates in order of decreasing draw); None keeps the order of
            :func:`candidate_windows`.

    Returns:
        ndarray[K, 4] float64: picked windows ``(x1, y1, x2, y2)`` in scaled
        pixels (whole numbers), in the order they were picked.
    """
    boxes = as_boxes(boxes_scaled, 'boxes_scaled')
    sw, sh = as_image_size(scaled_size)
    sw = as_positive_int(sw, 'scaled_size[0]')
    sh = as_positive_int(sh, 'scaled_size[1]')
    chip_size = as_positive_int(chip_size, 'chip_size')
    stride = as_positive_int(stride, 'stride')
    _check_rng(rng)
    if len(boxes) == 0:
        return np.zeros((0, 4), dtype=np.float64)
    windows = _cover_grid(boxes, sw, sh, chip_size, stride, rng)
    return np.asarray(windows, dtype=np.float64).reshape(-1, 4)


def max_fit_extent(chip_size: int, stride: int) -> int:
    """The reference's fit condition: along an axis where the scaled image is longer than
    the chip, a box takes part only when its scaled extent is below this (every such box
    then lies fully inside some window of the stride grid)."""
    return chip_size - stride - 1


def cover_boxes(boxes: np.ndarray, w: Any, h: Any, s: Any, chip_size: int, stride: int,
                min_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Steps 1 (b)-(c) of :func:`generate_positive_chips`: each box as the cover sees it.

    A box is clipped to the image, scaled and clipped to the scaled image; it takes part
    in a level's cover when it keeps positive width and height, both at least
    ``min_size``, and, along each axis where the scaled image is longer than the chip, an
    extent ``< chip_size - stride - 1`` (the reference's fit condition). The range test
    is separate (:func:`~.scales.range_mask`). The one implementation of this rule: the
    planner and the scale advisor's coverage both call it.

    Args:
        boxes (ndarray[N, 4] float): ``(x1, y1, x2, y2)`` in ORIGINAL pixels.
        w, h (float | ndarray): image width and height, ORIGINAL pixels, broadcasting
            against ``boxes[:, 0]`` (one image, or one per box).
        s (float | ndarray): the level factor(s), broadcasting likewise (``[L, 1]``: every
            level of one image at once).
        chip_size (int), stride (int), min_size (float): as in
            :func:`generate_positive_chips`.

    Returns:
        tuple: ``(scaled boxes ndarray[..., 4] float64, SCALED pixels, clipped;
        takes part ndarray[...] bool)``, ``...`` the broadcast shape.
    """
    sw, sh = scaled_lengths(w, s), scaled_lengths(h, s)
    x1 = np.minimum(np.clip(boxes[:, 0], 0.0, w) * s, sw)
    y1 = np.minimum(np.clip(boxes[:, 1], 0.0, h) * s, sh)
    x2 = np.minimum(np.clip(boxes[:, 2], 0.0, w) * s, sw)
    y2 = np.minimum(np.clip(boxes[:, 3], 0.0, h) * s, sh)
    bw, bh = x2 - x1, y2 - y1
    fit = max_fit_extent(chip_size, stride)
    side = np.minimum(bw, bh)
    part = ((side > 0) & (side >= min_size) & ((sw <= chip_size) | (bw < fit))
            & ((sh <= chip_size) | (bh < fit)))
    return np.stack([x1, y1, x2, y2], axis=-1), part


def generate_positive_chips(boxes: np.ndarray, image_size: tuple[float, float],
                            scales: Sequence[Scale], valid_ranges: Sequence[tuple[Any, Any]],
                            chip_size: int = 512, stride: int = 32,
                            rng: np.random.Generator | None = None,
                            min_size: float = 0.0) -> list[Chip]:
    """Positive chips of one image: per level, a greedy cover of its valid boxes.

    A box takes part in the cover of level ``l`` when (a) ``sqrt(w * h)`` of the box
    as given (original pixels) is in ``valid_ranges[l]``, half-open ``[lo, hi)``;
    (b) clipped to the image and scaled, it still has positive width and height,
    and both are at least ``min_size`` (boxes of zero or negative size, or wholly
    outside the image, never take part);
    (c) along each axis where the scaled image is longer than the chip, its scaled,
    clipped extent is ``< chip_size - stride - 1`` -- the reference's fit condition,
    which guarantees that a grid window holds it. Every box that takes part lies
    fully inside at least one chip of its level. Boxes that take part nowhere (e.g.
    larger than a chip at every level where they are in range) get no chip.

    Args:
        boxes (ndarray[N, 4] float): ground truth ``(x1, y1, x2, y2)`` in original
            pixels; ``N`` may be 0. Non-finite coordinates raise ValueError.
        image_size (tuple[float, float]): ``(w, h)`` of the original image.
        scales (Sequence[float | tuple]): one scale per level, see
            :func:`scale_factor`.
        valid_ranges (Sequence[tuple]): one ``(lo, hi)`` per level, see
            :func:`normalize_ranges`.
        chip_size (int): side of a chip in scaled pixels.
        stride (int): candidate grid step in scaled pixels, ``< chip_size - 1``.
        rng (numpy.random.Generator | None): draws the candidate shuffle (one
            ``rng.random(M)`` per level with boxes, see :func:`cover_windows`);
            None: no shuffle, deterministic.
        min_size (float): least scaled width and height of a box that takes part.
            Pass the ``min_size`` of :func:`assign_boxes` (10) to spend no chip on
            boxes that every chip would ignore; the default 0 keeps every box.

    Returns:
        list[Chip]: ``kind='pos'`` chips, level by level in pick order. Each window
        is integer-aligned in scaled pixels, inside the scaled image and at most
        ``chip_size`` per side; ``Chip.box`` is it in original pixels by the edge
        rule of :func:`~mmsniper.chips.chip.window_box` (inside the image).
    """
    arr = as_boxes(boxes)
    w, h = as_image_size(image_size)
    chip_size = as_positive_int(chip_size, 'chip_size')
    stride = as_stride(stride, chip_size)
    _check_rng(rng)
    min_size = as_nonneg_float(min_size, 'min_size')
    factors = scale_factors((w, h), scales)
    bounds = level_bounds(valid_ranges, len(factors))
    chips: list[Chip] = []
    if len(arr) == 0:
        return chips
    sizes = box_sizes(arr)
    in_range = range_mask(sizes, bounds[:, :1], bounds[:, 1:], 'left')  # [L, N]
    scaled_sizes = [scaled_image_size((w, h), s) for s in factors]
    # 1. Every level at once: a box takes part where it is in range and passes
    # cover_boxes' size and fit tests.
    b, part = cover_boxes(arr, w, h, np.array(factors)[:, None], chip_size, stride,
                          min_size)  # [L, N, 4], [L, N]
    keep = in_range & part
    for level in np.flatnonzero(keep.any(axis=1)).tolist():
        s = factors[level]
        sw, sh = scaled_sizes[level]
        # 2-4. Candidates, shuffle, greedy cover.
        windows = _cover_grid(b[level][keep[level]], sw, sh, chip_size, stride, rng)
        # Back to original pixels by the edge rule (a side on the far border is w or h).
        for x1, y1, x2, y2 in windows:
            box = _window_box(x1, y1, x2, y2, s, w, h, sw, sh)
            chips.append(Chip._trusted(level, s, box))
    return chips
