"""Negative chips: regions the detector proposes objects in, away from every positive chip.

Frames: proposals come in ORIGINAL pixels; the cover works in SCALED pixels of each level;
the chips go out with ``Chip.box`` in ORIGINAL pixels (``kind='neg'``).
"""
from __future__ import annotations

from typing import Any, Sequence, Union

import numpy as np

from ._checks import as_boxes, as_image_size, as_positive_int, as_stride
from .chip import Chip, _window_box
from .cover import cover_windows
from .scales import Scale, box_sizes, level_bounds, range_mask, scale_factors, scaled_image_size

#: Reference minimum proposal counts: a negative chip must hold MORE than this many
#: proposals (25 at the finest level, 10 at the others).
REFERENCE_MIN_PROPOSALS = (25, 10, 10)


def _per_level(min_proposals: Union[int, Sequence[int]], levels: int) -> list:
    if isinstance(min_proposals, (int, np.integer)):
        return [int(min_proposals)] * levels
    vals = [int(v) for v in min_proposals]
    if len(vals) != levels:
        raise ValueError(f'min_proposals: expected an int or one count per level ({levels}), '
                         f'got {list(min_proposals)}')
    return vals


def generate_negative_chips(proposals: np.ndarray, image_size: tuple[float, float],
                            scales: Sequence[Scale], valid_ranges: Sequence[tuple[Any, Any]],
                            positive_chips: Sequence[Chip] = (), chip_size: int = 512,
                            stride: int = 32,
                            min_proposals: Union[int, Sequence[int]] = REFERENCE_MIN_PROPOSALS,
                            rng: np.random.Generator | None = None) -> list[Chip]:
    """Negative chips of one image, level by level (reference steps).

    Per level ``l`` with factor ``s``:

    1. keep the proposals whose ``sqrt(w * h)`` (ORIGINAL pixels) is in
       ``valid_ranges[l]`` (``[lo, hi)``), scale them by ``s`` and clip them to the
       scaled image (those left with no area drop out);
    2. drop those lying fully inside a positive chip of level ``l`` (that region is
       already trained on);
    3. greedy cover of the rest with the same candidate windows as positive chips;
    4. keep a chip when it holds (fully inside) MORE than ``min_proposals[l]`` of the
       proposals left after step 2.

    Args:
        proposals (ndarray[P, 4] float): ``(x1, y1, x2, y2)`` in ORIGINAL pixels (scores
            are not needed: the RPN already kept its top proposals).
        image_size (tuple[float, float]): ``(w, h)`` of the original image.
        scales (Sequence[float | tuple]): the training levels (as for positive chips).
        valid_ranges (Sequence[tuple]): one ``(lo, hi)`` per level, ORIGINAL pixels.
        positive_chips (Sequence[Chip]): this epoch's positive chips of the image.
        chip_size (int): chip side, scaled pixels.
        stride (int): candidate grid step, scaled pixels, ``< chip_size - 1`` (as for
            positive chips).
        min_proposals (int | Sequence[int]): per level, a chip needs more proposals than
            this. Default :data:`REFERENCE_MIN_PROPOSALS` (three levels).
        rng (numpy.random.Generator | None): shuffles the candidate windows.

    Returns:
        list[Chip]: ``kind='neg'`` chips, ``Chip.box`` in ORIGINAL pixels by the edge
        rule of :func:`~mmsniper.chips.chip.window_box` (inside the image).
    """
    props = as_boxes(proposals, 'proposals')
    w, h = as_image_size(image_size)
    chip_size = as_positive_int(chip_size, 'chip_size')
    stride = as_stride(stride, chip_size)
    factors = scale_factors((w, h), scales)
    bounds = level_bounds(valid_ranges, len(factors))
    mins = _per_level(min_proposals, len(factors))
    chips: list[Chip] = []
    if len(props) == 0:
        return chips
    sizes = box_sizes(props)
    clipped = np.minimum(np.maximum(props, 0.0), (w, h, w, h))
    for level, s in enumerate(factors):
        lo, hi = bounds[level]
        # 1. in range, scaled, clipped, with area left
        sel = clipped[range_mask(sizes, lo, hi, 'left')] * s
        sel = sel[(sel[:, 2] > sel[:, 0]) & (sel[:, 3] > sel[:, 1])]
        # 2. not already inside a positive chip of this level
        for c in positive_chips:
            if c.level != level or len(sel) == 0:
                continue
            x1, y1, x2, y2 = c.scaled_box
            inside = ((sel[:, 0] >= x1) & (sel[:, 1] >= y1) & (sel[:, 2] <= x2)
                      & (sel[:, 3] <= y2))
            sel = sel[~inside]
        if len(sel) <= mins[level]:
            continue
        # 3. greedy cover of what is left
        sw, sh = scaled_image_size((w, h), s)
        windows = cover_windows(sel, (sw, sh), chip_size, stride, rng)
        # 4. keep the windows holding enough proposals
        for x1, y1, x2, y2 in windows:
            held = ((sel[:, 0] >= x1) & (sel[:, 1] >= y1) & (sel[:, 2] <= x2)
                    & (sel[:, 3] <= y2)).sum()
            if held > mins[level]:
                box = _window_box(x1, y1, x2, y2, s, w, h, sw, sh)  # the edge rule
                chips.append(Chip(level, s, box, kind='neg'))
    return chips
