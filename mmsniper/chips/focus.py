"""AutoFocus in the chip engine: FocusPixel targets and FocusChips (NumPy only).

AutoFocus (Najibi, Singh, Davis, ICCV 2019) runs the test pyramid coarse to fine: the
coarsest scale on the whole image, each finer scale only inside *FocusChips*, regions that
a FocusPixel map predicted at the coarser scale marks as holding small objects.

Frames: a focus map has one CELL per ``stride x stride`` block of the image it was
computed on (the SCALED image of one pyramid level, or a training CHIP); cell ``(i, j)``
covers pixels ``[j * stride, (j + 1) * stride) x [i * stride, (i + 1) * stride)``. Cell
boxes are ``(x1, y1, x2, y2)`` whole numbers, half-open (``x2`` is one past the last cell).

FocusChips (:func:`focus_chips`), as the reference describes them:

1. threshold the map (cells with probability ``>= threshold``);
2. dilate with a ``dilation x dilation`` square;
3. 8-connected components, each its bounding box;
4. grow each box to at least ``min_size`` cells around its centre, shifted inside the map;
5. merge any two boxes that overlap (positive area) into their union, until none do;
6. clip to the map (a chip larger than the image is clipped);

then :func:`cells_to_next_scale` maps them to the next (finer) scale's pixels.

Everything here is pure NumPy (no SciPy, no OpenCV) so the chip engine stays importable
without the stack; the maps are small (a 2000-pixel side at stride 16 is 125 cells).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ._checks import as_boxes, as_image_size, as_positive_int
from .scales import box_sizes

#: Reference FocusChip parameters per coarse -> fine step: coarsest -> middle, middle ->
#: finest (``min_size`` in cells of stride 16: 256 and 320 pixels of the coarser scale).
REFERENCE_FOCUS_STEPS = (dict(threshold=0.02, dilation=3, min_size=16),
                         dict(threshold=0.2, dilation=3, min_size=20))

#: Reference FocusPixel target thresholds, ``sqrt(w * h)`` in CHIP pixels
#: (``AUTO_FOCUS_DC_LOW``, ``AUTO_FOCUS_SMALL_THRESH``, ``AUTO_FOCUS_DC_HIGH``).
REFERENCE_FOCUS_TARGETS = dict(dc_low=5.0, small=64.0, dc_high=90.0)

#: Target values of :func:`focus_targets`.
FOCUS_NEGATIVE, FOCUS_POSITIVE, FOCUS_IGNORE = 0, 1, -1


@dataclass(frozen=True)
class FocusStep:
    """FocusChip parameters of one coarse -> fine step.

    Attributes:
        threshold (float): a cell is a focus pixel when its probability is
            ``>= threshold``; in ``(0, 1)``.
        dilation (int): side of the square dilation kernel, in cells, ``>= 1`` (1: none).
        min_size (int): least FocusChip side, in cells of the coarser map, ``>= 1``.
    """

    threshold: float
    dilation: int
    min_size: int

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any], key: str = 'focus_steps[i]') -> FocusStep:
        """Validate a config dict; errors name ``key`` and the offending entry."""
        if not isinstance(cfg, Mapping):
            raise ValueError(f'{key}: expected a dict(threshold=, dilation=, min_size=), got '
                             f'{cfg!r}')
        unknown = sorted(set(cfg) - {'threshold', 'dilation', 'min_size'})
        missing = sorted({'threshold', 'dilation', 'min_size'} - set(cfg))
        if unknown or missing:
            raise ValueError(f'{key}: unknown keys {unknown}, missing keys {missing}; expected '
                             'threshold, dilation, min_size')
        t = cfg['threshold']
        try:
            tf = float(t)
        except (TypeError, ValueError):
            tf = math.nan
        if isinstance(t, bool) or not 0.0 < tf < 1.0:
            raise ValueError(f'{key}.threshold: expected a probability in (0, 1), got {t!r}')
        d = cfg['dilation']
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
            raise ValueError(f'{key}.dilation: expected an int >= 1 (kernel side in cells; '
                             f'1: no dilation), got {d!r}')
        m = as_positive_int(cfg['min_size'], f'{key}.min_size')
        return cls(threshold=tf, dilation=int(d), min_size=m)


def focus_steps(steps: Sequence[Mapping[str, Any]] | None,
                key: str = 'focus_steps') -> list[FocusStep]:
    """Validate a list of step dicts (None: :data:`REFERENCE_FOCUS_STEPS`)."""
    if steps is None:
        steps = REFERENCE_FOCUS_STEPS
    if isinstance(steps, Mapping) or not isinstance(steps, Sequence):
        raise ValueError(f'{key}: expected a list of dicts, one per coarse -> fine step, got '
                         f'{steps!r}')
    return [FocusStep.from_dict(s, f'{key}[{i}]') for i, s in enumerate(steps)]


# -- targets -----------------------------------------------------------------------------------

def focus_targets(boxes: Any, chip_size: Any, stride: int, dc_low: float = 5.0,
                  small: float = 64.0, dc_high: float = 90.0) -> np.ndarray:
    """FocusPixel targets of one training chip.

    A cell is positive (1) if it overlaps (positive area) an object whose ``sqrt(w * h)``
    is in ``(dc_low, small)``; otherwise ignored (-1) if it overlaps one in
    ``[small, dc_high)`` or ``<= dc_low``; otherwise negative (0). Positive wins over
    ignore: a cell holding a small object should fire whatever else it holds.

    Args:
        boxes (ndarray[N, 4]): every object in the chip (trained or ignored alike),
            ``(x1, y1, x2, y2)`` in CHIP pixels.
        chip_size (tuple[int, int]): ``(w, h)`` of the chip (or padded batch), pixels.
        stride (int): pixels per cell.
        dc_low, small, dc_high (float): the thresholds, CHIP pixels of ``sqrt(w * h)``,
            ``0 <= dc_low < small <= dc_high``.

    Returns:
        ndarray[ceil(h / stride), ceil(w / stride)] int8: 1, 0 or -1.
    """
    b = as_boxes(boxes)
    w, h = as_image_size(chip_size)
    s = as_positive_int(stride, 'stride')
    if not (0 <= dc_low < small <= dc_high):
        raise ValueError(f'focus targets: expected 0 <= dc_low < small <= dc_high, got '
                         f'dc_low={dc_low!r}, small={small!r}, dc_high={dc_high!r}')
    gh, gw = math.ceil(h / s), math.ceil(w / s)
    out = np.zeros((gh, gw), np.int8)
    if len(b) == 0:
        return out
    size = box_sizes(b)  # the package's one size definition
    pos = (size > dc_low) & (size < small)
    ign = ~pos & (size < dc_high)
    # Cells j with j * s < x2 and (j + 1) * s > x1: [floor(x1 / s), ceil(x2 / s)).
    x1 = np.clip(np.floor(b[:, 0] / s), 0, gw).astype(np.int64)
    y1 = np.clip(np.floor(b[:, 1] / s), 0, gh).astype(np.int64)
    x2 = np.clip(np.ceil(b[:, 2] / s), 0, gw).astype(np.int64)
    y2 = np.clip(np.ceil(b[:, 3] / s), 0, gh).astype(np.int64)
    for flag, value in ((ign, FOCUS_IGNORE), (pos, FOCUS_POSITIVE)):
        for k in np.flatnonzero(flag & (x2 > x1) & (y2 > y1)):
            out[y1[k]:y2[k], x1[k]:x2[k]] = value
    return out


# -- FocusChips --------------------------------------------------------------------------------

def dilate(mask: np.ndarray, kernel: int) -> np.ndarray:
    """Binary dilation by a ``kernel x kernel`` square (anchor at ``kernel // 2``, as cv2)."""
    m = np.asarray(mask, bool)
    if kernel <= 1 or not m.any():
        return m.copy()
    h, w = m.shape
    lo = kernel // 2
    pad = np.zeros((h + kernel - 1, w + kernel - 1), bool)
    pad[lo:lo + h, lo:lo + w] = m
    out = np.zeros_like(m)
    for dy in range(kernel):
        for dx in range(kernel):
            out |= pad[dy:dy + h, dx:dx + w]
    return out


def component_boxes(mask: np.ndarray) -> np.ndarray:
    """Bounding boxes of the 8-connected components of a binary mask.

    Args:
        mask (ndarray[H, W] bool): the cells.

    Returns:
        ndarray[K, 4] int64: ``(x1, y1, x2, y2)`` half-open cell boxes, in the order of
        each component's first cell in row-major order.
    """
    m = np.asarray(mask, bool)
    h, w = m.shape
    seen = np.zeros_like(m)
    boxes = []
    for y0, x0 in np.argwhere(m):
        if seen[y0, x0]:
            continue
        seen[y0, x0] = True
        queue = deque([(int(y0), int(x0))])
        bx1, by1, bx2, by2 = x0, y0, x0, y0
        while queue:
            y, x = queue.popleft()
            bx1, bx2 = min(bx1, x), max(bx2, x)
            by1, by2 = min(by1, y), max(by2, y)
            for ny in (y - 1, y, y + 1):
                if 0 <= ny < h:
                    for nx in (x - 1, x, x + 1):
                        if 0 <= nx < w and m[ny, nx] and not seen[ny, nx]:
                            seen[ny, nx] = True
                            queue.append((ny, nx))
        boxes.append((bx1, by1, bx2 + 1, by2 + 1))
    return np.asarray(boxes, np.int64).reshape(-1, 4)


def grow_boxes(boxes: np.ndarray, min_size: int, grid_size: tuple[int, int]) -> np.ndarray:
    """Grow each cell box to at least ``min_size`` per side around its centre, inside the grid.

    A grown box is shifted (not cut) to lie inside ``[0, gw) x [0, gh)``; only a grid
    smaller than ``min_size`` clips it.

    Args:
        boxes (ndarray[K, 4] int): half-open cell boxes inside the grid.
        min_size (int): least side, cells.
        grid_size (tuple[int, int]): ``(gw, gh)`` in cells.

    Returns:
        ndarray[K, 4] int64.
    """
    out = np.asarray(boxes, np.int64).reshape(-1, 4).copy()
    for axis, g in ((0, int(grid_size[0])), (1, int(grid_size[1]))):
        a, b = out[:, axis], out[:, axis + 2]
        length = np.maximum(b - a, min_size)
        a = a - (length - (b - a)) // 2
        b = a + length
        # Shift inside, then clip (only a grid smaller than min_size needs it).
        shift = np.where(a < 0, -a, np.where(b > g, g - b, 0))
        a, b = a + shift, b + shift
        out[:, axis], out[:, axis + 2] = np.clip(a, 0, g), np.clip(b, 0, g)
    return out


def merge_overlapping(boxes: np.ndarray) -> np.ndarray:
    """Replace any two boxes that overlap (positive area) by their union, until none do.

    Args:
        boxes (ndarray[K, 4] int): half-open boxes.

    Returns:
        ndarray[M, 4] int64, ``M <= K``, no two overlapping, sorted by ``(y1, x1)``.
    """
    chips = [tuple(int(v) for v in b) for b in np.asarray(boxes).reshape(-1, 4)]
    merged = True
    while merged:
        merged = False
        for i in range(len(chips)):
            for j in range(i + 1, len(chips)):
                a, b = chips[i], chips[j]
                if min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1]):
                    chips[i] = (min(a[0], b[0]), min(a[1], b[1]),
                                max(a[2], b[2]), max(a[3], b[3]))
                    del chips[j]
                    merged = True
                    break
            if merged:
                break
    chips.sort(key=lambda c: (c[1], c[0]))
    return np.asarray(chips, np.int64).reshape(-1, 4)


def focus_chips(focus_map: Any, step: FocusStep | Mapping[str, Any],
                grid_size: tuple[int, int] | None = None) -> np.ndarray:
    """FocusChips of one focus map, in CELLS of that map.

    Args:
        focus_map (ndarray[H, W] float): probability that a cell holds a small object.
        step (FocusStep | dict): ``threshold``, ``dilation``, ``min_size`` (cells).
        grid_size (tuple[int, int], optional): ``(gw, gh)``, the cells that cover the
            image (the map may be larger: padding of the batch); default the map's.

    Returns:
        ndarray[K, 4] int64: half-open cell boxes inside ``[0, gw) x [0, gh)``, no two
        overlapping, each side ``>= min(min_size, grid side)``; empty when no cell
        reaches the threshold.
    """
    st = step if isinstance(step, FocusStep) else FocusStep.from_dict(step, 'step')
    fm = np.asarray(focus_map, dtype=np.float64)
    if fm.ndim != 2:
        raise ValueError(f'focus_map: expected shape (H, W), got {fm.shape}')
    gw, gh = (fm.shape[1], fm.shape[0]) if grid_size is None else (
        int(grid_size[0]), int(grid_size[1]))
    if gw < 1 or gh < 1:
        raise ValueError(f'grid_size: expected positive (gw, gh), got {grid_size!r}')
    fm = fm[:gh, :gw]
    mask = np.zeros((gh, gw), bool)
    mask[:fm.shape[0], :fm.shape[1]] = fm >= st.threshold  # NaN is never a focus pixel
    if not mask.any():
        return np.zeros((0, 4), np.int64)
    boxes = component_boxes(dilate(mask, st.dilation))
    boxes = grow_boxes(boxes, st.min_size, (gw, gh))
    return merge_overlapping(boxes)


def cells_to_next_scale(cells: Any, stride: int, scaled_size: Any, ratio: float,
                        next_size: Any) -> np.ndarray:
    """FocusChips from cells of a coarser level to pixels of the next (finer) level.

    Args:
        cells (ndarray[K, 4] int): half-open cell boxes of the coarser level's map.
        stride (int): pixels per cell at the coarser level.
        scaled_size (tuple[int, int]): ``(w, h)`` of the coarser level's scaled image:
            cells are clipped to it first.
        ratio (float): ``s_next / s_coarse`` per axis, ``> 0`` (or a pair ``(rx, ry)``).
        next_size (tuple[int, int]): ``(w, h)`` of the next level's scaled image.

    Returns:
        ndarray[K, 4] float64: ``(x1, y1, x2, y2)`` in the next level's SCALED pixels,
        whole numbers rounded outwards, clipped to ``next_size``, each at least one pixel.
    """
    c = np.asarray(cells, np.float64).reshape(-1, 4)
    s = as_positive_int(stride, 'stride')
    w, h = as_image_size(scaled_size)
    nw, nh = as_image_size(next_size)
    rx, ry = (ratio, ratio) if np.ndim(ratio) == 0 else tuple(ratio)
    if not (rx > 0 and ry > 0 and math.isfinite(rx) and math.isfinite(ry)):
        raise ValueError(f'ratio: expected a positive factor, got {ratio!r}')
    px = np.minimum(c * s, [w, h, w, h])
    out = px * [rx, ry, rx, ry]
    out[:, :2] = np.floor(out[:, :2] + 1e-6)
    out[:, 2:] = np.ceil(out[:, 2:] - 1e-6)
    out = np.clip(out, 0, [nw, nh, nw, nh])
    out[:, 2] = np.maximum(out[:, 2], np.minimum(out[:, 0] + 1, nw))
    out[:, 3] = np.maximum(out[:, 3], np.minimum(out[:, 1] + 1, nh))
    out[:, 0] = np.minimum(out[:, 0], out[:, 2] - 1)
    out[:, 1] = np.minimum(out[:, 1], out[:, 3] - 1)
    return out


def interior_sides(windows: np.ndarray, image_size: Any) -> np.ndarray:
    """Which sides ``(left, top, right, bottom)`` of each window lie inside the image.

    Args:
        windows (ndarray[K, 4]): ``(x1, y1, x2, y2)`` pixels of an image of ``(w, h)``.
        image_size (tuple[int, int]): ``(w, h)``.

    Returns:
        ndarray[K, 4] bool: True where a detection touching that side may be cut.
    """
    wins = as_boxes(windows, 'windows')
    w, h = as_image_size(image_size)
    return np.stack([wins[:, 0] > 0, wins[:, 1] > 0, wins[:, 2] < w, wins[:, 3] < h], axis=1)
