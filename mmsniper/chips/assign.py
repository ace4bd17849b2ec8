"""Ground truth of one chip: which boxes it shows, where, and which to learn from.

Frames: boxes come in "original" pixels; they go out in "chip" pixels (scaled
pixels minus the chip's top-left corner). Valid ranges are ``sqrt(w * h)`` of the
box as given, in original pixels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._checks import as_boxes, as_fraction, as_image_size, as_nonneg_float, as_positive_int
from .chip import Chip
from .scales import box_sizes, normalize_ranges, range_mask, scaled_image_size


@dataclass(frozen=True, slots=True, eq=False)
class BoxAssignment:
    """The ground truth a chip shows.

    Attributes:
        index (ndarray[K] int64): indices into the input boxes, ascending.
        boxes (ndarray[K, 4] float32): ``(x1, y1, x2, y2)`` in CHIP pixels, clipped
            to the chip's crop window ``[0, scaled_w] x [0, scaled_h]``.
        valid (ndarray[K] bool): True for boxes to learn from; False for boxes to
            ignore (neither positive nor negative).
    """

    index: np.ndarray
    boxes: np.ndarray
    valid: np.ndarray

    @property
    def ignored(self) -> np.ndarray:
        """ndarray[K] bool: ``~valid``."""
        return ~self.valid

    def __len__(self) -> int:
        return len(self.index)


def assign_boxes(boxes: np.ndarray, chip: Chip, valid_range: tuple[Any, Any],
                 chip_size: int = 512, min_size: float = 10.0, min_visible: float = 0.5,
                 inclusive: str = 'left',
                 image_size: tuple[float, float] | None = None) -> BoxAssignment:
    """Boxes one chip shows, in chip pixels, each marked valid or ignored.

    Returned: every box whose intersection with the chip's crop window has
    positive area, and every box of zero or negative width or height whose
    ``(x1, y1)`` corner lies in the closed window (never valid, but not lost).
    Boxes outside the chip are not returned: they belong to other chips.

    Valid (learn from it) when all hold:

    1. ``chip.kind == 'pos'`` (in a negative chip every box is ignored);
    2. ``sqrt(w * h)`` of the box as given, in original pixels, is in
       ``valid_range`` (``[lo, hi)`` with ``inclusive='left'``);
    3. the clipped box is at least ``min_size`` chip pixels wide AND high (the
       reference drops boxes under 10 px after clipping; here they are ignored);
    4. at least ``min_visible`` of the box's area lies inside the crop window (a
       sliver of a box cut by the chip border is ignored; the cover puts every
       box it covers fully inside some chip of its level, so nothing is lost).

    Everything else returned is ignored. ``min_visible=1.0`` keeps only boxes fully
    inside the chip, closest to what the official code trains on; ``min_visible=0``
    with ``min_size=10`` is the paper's "clip, drop below 10 px" rule.

    Args:
        boxes (ndarray[N, 4] float): ground truth ``(x1, y1, x2, y2)`` in original
            pixels; non-finite coordinates raise ValueError.
        chip (Chip): the chip; its ``scale`` maps original to scaled pixels.
        valid_range (tuple): ``(lo, hi)`` of the chip's level, original pixels of
            ``sqrt(w * h)``; ``-1`` or ``None`` leaves an end open.
        chip_size (int): side of the padded chip; the chip must fit in it.
        min_size (float): least width and height of a valid clipped box, chip pixels.
        min_visible (float): least fraction of a valid box's area inside the chip,
            in ``[0, 1]``.
        inclusive (str): range convention, see :func:`valid_range_mask`.
        image_size (tuple[float, float] | None): ``(w, h)`` of the original image.
            When given, boxes are first clipped to the scaled image (as
            :func:`generate_positive_chips` does), so a part of a box outside the
            image counts neither against its visibility nor in its clipped size;
            when None, that part counts as not visible.

    Returns:
        BoxAssignment: ``index`` ``[K]``, ``boxes`` ``[K, 4]`` float32 chip pixels,
        ``valid`` ``[K]`` bool.
    """
    arr = as_boxes(boxes)
    if not isinstance(chip, Chip):
        raise ValueError(f'chip: expected a Chip, got {type(chip).__name__}')
    chip_size = as_positive_int(chip_size, 'chip_size')
    min_size = as_nonneg_float(min_size, 'min_size')
    min_visible = as_fraction(min_visible, 'min_visible')
    sx1, sy1, sx2, sy2 = chip.scaled_box
    cw, ch = sx2 - sx1, sy2 - sy1
    if not (0 < cw <= chip_size and 0 < ch <= chip_size):
        raise ValueError(f'chip: expected a crop of 1..{chip_size} scaled pixels per side, '
                         f'got {cw}x{ch} ({chip!r})')
    (lo, hi), = normalize_ranges([valid_range])

    scaled = arr * chip.scale
    proper = (scaled[:, 2] > scaled[:, 0]) & (scaled[:, 3] > scaled[:, 1])
    seen = scaled  # the part of each box that an image crop can show
    if image_size is not None:  # clip exactly as generate_positive_chips does
        w, h = as_image_size(image_size)
        sw, sh = scaled_image_size((w, h), chip.scale)
        seen = np.minimum(np.minimum(np.maximum(arr, 0.0), (w, h, w, h)) * chip.scale,
                          (sw, sh, sw, sh))
    # Chip frame: move the chip's top-left corner to the origin, clip to the crop.
    cb = seen - np.array([sx1, sy1, sx1, sy1], dtype=np.float64)
    cl = np.minimum(np.maximum(cb, 0.0), (cw, ch, cw, ch))
    clw, clh = cl[:, 2] - cl[:, 0], cl[:, 3] - cl[:, 1]
    overlaps = proper & (clw > 0) & (clh > 0)
    cx, cy = scaled[:, 0] - sx1, scaled[:, 1] - sy1
    corner_in = (cx >= 0) & (cx <= cw) & (cy >= 0) & (cy <= ch)
    index = np.flatnonzero(overlaps | (~proper & corner_in))

    ov = overlaps[index]
    if chip.kind == 'pos':
        # area in the same (chip) frame: a box inside the crop has cl == cb exactly,
        # so its visible fraction is exactly 1
        area = (cb[index, 2] - cb[index, 0]) * (cb[index, 3] - cb[index, 1])
        visible = np.zeros(len(index))
        np.divide(clw[index] * clh[index], area, out=visible, where=ov)
        valid = (ov & range_mask(box_sizes(arr[index]), lo, hi, inclusive)
                 & (np.minimum(clw[index], clh[index]) >= min_size) & (visible >= min_visible))
    else:
        valid = np.zeros(len(index), dtype=bool)
    return BoxAssignment(index=index.astype(np.int64), boxes=cl[index].astype(np.float32),
                         valid=valid)
