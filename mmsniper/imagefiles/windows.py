"""Which part of an image file a chip needs, and at which stored resolution.

Shared by the loader (:class:`~mmsniper.datasets.LoadChipWindow`, which reads the window)
and :class:`~mmsniper.datasets.ChipGenerator` (which cuts the chip from it), so the two
agree on the window by construction. Pure arithmetic, no I/O.

Frames: ORIGINAL pixels are the image file's (EXIF orientation applied); a window read at
factor ``k`` holds LEVEL pixels, LEVEL = ORIGINAL / k (pixel ``(i, j)`` of level ``k``
covers ORIGINAL ``[j*k, (j+1)*k) x [i*k, (i+1)*k)``).
"""
from __future__ import annotations

import math
from typing import Sequence

#: Slack in choosing a factor: ``k`` is allowed when ``k * scale <= 1 + FACTOR_TOL``.
FACTOR_TOL = 1e-6


def level_factor(scale: float, factors: Sequence[int]) -> int:
    """The coarsest stored factor whose resolution is still at least the chip's scale.

    Args:
        scale (float): the chip's factor ``s`` (scaled = ORIGINAL * s).
        factors (Sequence[int]): the factors the file can give (1 among them).

    Returns:
        int: the largest ``k`` in ``factors`` with ``k * s <= 1`` (1 if none): the chip is
        then resampled from LEVEL pixels by ``k * s <= 1``, never upsampled from a level
        coarser than itself.
    """
    best = 1
    for k in factors:
        if k > best and k * float(scale) <= 1.0 + FACTOR_TOL:
            best = int(k)
    return best


def crop_window(box: Sequence[float], image_size: tuple[int, int],
                factor: int = 1) -> tuple[int, int, int, int]:
    """The whole-pixel ORIGINAL window a chip is cut from.

    The chip's box widened to whole pixels plus one pixel of margin for interpolation,
    clipped to the image (``ChipGenerator._cut`` proves the edge rule for any window at
    least this large); with ``factor > 1`` its sides are then moved out to the factor's
    grid (clipped to the image), so the window is whole LEVEL pixels.

    Args:
        box (tuple[float, float, float, float]): the chip's ``(x1, y1, x2, y2)``, ORIGINAL.
        image_size (tuple[int, int]): ``(W, H)`` of the ORIGINAL image.
        factor (int): the level the window will be read at (1: ORIGINAL).

    Returns:
        tuple[int, int, int, int]: ``(x1, y1, x2, y2)`` ORIGINAL pixels, ``x1, y1``
        multiples of ``factor``, ``0 <= x1 < x2 <= W``, ``0 <= y1 < y2 <= H``.
    """
    w, h = int(image_size[0]), int(image_size[1])
    bx1, by1, bx2, by2 = box
    x1, y1 = max(0, math.floor(bx1) - 1), max(0, math.floor(by1) - 1)
    x2, y2 = min(w, math.ceil(bx2) + 1), min(h, math.ceil(by2) + 1)
    k = int(factor)
    if k > 1:
        x1, y1 = x1 // k * k, y1 // k * k
        x2, y2 = min(w, -(-x2 // k) * k), min(h, -(-y2 // k) * k)
    return x1, y1, x2, y2


def level_slice(window: Sequence[int], origin: Sequence[int]) -> tuple[slice, slice]:
    """Rows and columns of a window inside an array read at ``origin``.

    Args:
        window (tuple[int, int, int, int]): ``(x1, y1, x2, y2)`` ORIGINAL pixels, corner on
            the factor's grid (as :func:`crop_window` gives it).
        origin (tuple[int, int, int]): ``(x0, y0, k)``: the array holds level ``k`` from
            ORIGINAL ``(x0, y0)`` on (``results['img_window']``).

    Returns:
        tuple[slice, slice]: ``(rows, cols)`` in the array's LEVEL pixels.
    """
    x1, y1, x2, y2 = (int(v) for v in window)
    x0, y0, k = (int(v) for v in origin)
    return (slice((y1 - y0) // k, -(-(y2 - y0) // k)),
            slice((x1 - x0) // k, -(-(x2 - x0) // k)))
