"""Scale factors, scaled image sizes, valid ranges and pyramid pixel counts.

Frames: "original" is the image file as annotated; "scaled" is original x the
level's factor ``s``. Valid ranges are always ``sqrt(w * h)`` in original pixels.
"""
from __future__ import annotations

import functools
import math
from numbers import Real
from typing import Any, Sequence, Union

import numpy as np

from ._checks import as_boxes, as_image_size

#: A scale: a plain factor, or a ``(short, long)`` resolution pair (``-1`` = unbounded side).
Scale = Union[float, Sequence[float]]


def _is_number(x: Any) -> bool:
    return isinstance(x, (Real, np.integer, np.floating)) and not isinstance(x, bool)


def scale_factor(image_size: tuple[float, float], scale: Scale) -> float:
    """Factor ``s`` (scaled = original * s) of one scale for one image.

    Args:
        image_size (tuple[float, float]): ``(w, h)`` of the original image.
        scale (float | tuple[float, float]): a positive factor used as is, or a
            ``(short, long)`` resolution: ``s = short / min(w, h)``, reduced to
            ``long / max(w, h)`` when ``s * max(w, h) > long``. ``short == -1`` means
            ``s = long / max(w, h)``; ``long == -1`` means no bound on the long side.

    Returns:
        float: the factor ``s > 0``.
    """
    w, h = as_image_size(image_size)
    return _factor(w, h, scale)


def _factor(w: float, h: float, scale: Scale) -> float:
    """:func:`scale_factor` for a checked image size."""
    if type(scale) is float and math.isfinite(scale) and scale > 0:
        return scale
    if _is_number(scale):
        s = float(scale)
        if not (math.isfinite(s) and s > 0):
            raise ValueError(f'scale: expected a positive factor, got {scale!r}')
        return s
    try:
        short, long = scale  # type: ignore[misc]
        short, long = float(short), float(long)
    except (TypeError, ValueError):
        raise ValueError(f'scale: expected a factor or a (short, long) pair, got {scale!r}'
                         ) from None
    for name, v in (('short', short), ('long', long)):
        if not (math.isfinite(v) and (v > 0 or v == -1)):
            raise ValueError(f'scale {scale!r}: {name} side must be > 0 or -1, got {v}')
    if short == -1 and long == -1:
        raise ValueError(f'scale {scale!r}: short and long cannot both be -1')
    if short == -1:
        return long / max(w, h)
    s = short / min(w, h)
    if long != -1 and s * max(w, h) > long:
        s = long / max(w, h)
    return s


def scale_factors(image_size: tuple[float, float], scales: Sequence[Scale]) -> list[float]:
    """:func:`scale_factor` of every scale, in order (one per pyramid level)."""
    w, h = as_image_size(image_size)
    return [_factor(w, h, sc) for sc in scales]


def scaled_image_size(image_size: tuple[float, float], scale: float) -> tuple[int, int]:
    """``(w, h)`` in whole pixels of the image resized by factor ``scale``.

    Rounded half up, the way ``mmcv.rescale_size`` sizes a resize by a factor, and
    at least 1 pixel.

    Args:
        image_size (tuple[float, float]): ``(w, h)`` of the original image.
        scale (float): the factor ``s`` (see :func:`scale_factor`).

    Returns:
        tuple[int, int]: ``(scaled_w, scaled_h)``.
    """
    w, h = as_image_size(image_size)
    s = float(scale)
    if not (math.isfinite(s) and s > 0):
        raise ValueError(f'scale: expected a positive factor, got {scale!r}')
    sw, sh = scaled_lengths(np.array((w, h)), s).tolist()
    return int(sw), int(sh)


def scaled_lengths(lengths: Any, s: Any) -> np.ndarray:
    """Whole-pixel lengths after resizing by ``s``: ``max(1, floor(length * s + 0.5))``.

    The rounding rule of :func:`scaled_image_size` (half up, as ``mmcv.rescale_size``),
    vectorised: ``lengths`` and ``s`` broadcast (e.g. one length and factor per image).

    Returns:
        ndarray float64: the lengths, whole numbers >= 1.
    """
    return np.maximum(1.0, np.floor(np.asarray(lengths, np.float64) * s + 0.5))


def image_scale_factors(image_sizes: np.ndarray, scale: Scale) -> np.ndarray:
    """Factor ``s`` of one scale for many images: :func:`scale_factor` of each.

    Computed by :func:`scale_factor`'s own rule once per distinct image size, so the
    factors are exactly the engine's.

    Args:
        image_sizes (ndarray[I, 2] float): ``(w, h)`` of each image, original pixels.
        scale (float | tuple[float, float]): a factor or a ``(short, long)`` resolution.

    Returns:
        ndarray[I] float64: the factors.
    """
    wh = np.asarray(image_sizes, dtype=np.float64).reshape(-1, 2)
    if len(wh) == 0:
        return np.zeros(0)
    uniq, inverse = np.unique(wh, axis=0, return_inverse=True)
    values = np.array([_factor(w, h, scale) for w, h in uniq.tolist()], dtype=np.float64)
    return values[inverse.reshape(-1)]


def pyramid_pixels(image_size: tuple[float, float], scales: Sequence[Scale]) -> int:
    """Pixels of the whole image resized to every scale (the full image pyramid).

    Args:
        image_size (tuple[float, float]): ``(w, h)`` of the original image.
        scales (Sequence[float | tuple]): scales as in :func:`scale_factor`.

    Returns:
        int: ``sum(scaled_w * scaled_h)`` over the scales.
    """
    total = 0
    for s in scale_factors(image_size, scales):
        sw, sh = scaled_image_size(image_size, s)
        total += sw * sh
    return total


def _bound(v: Any, which: str, i: int) -> float:
    if v is None or (_is_number(v) and v == -1):
        return 0.0 if which == 'lo' else math.inf
    if not _is_number(v) or math.isnan(v) or v < 0:
        raise ValueError(f'ranges[{i}]: {which} must be >= 0, -1 or None, got {v!r}')
    return float(v)


def normalize_ranges(ranges: Sequence[tuple[Any, Any]] | np.ndarray) -> np.ndarray:
    """Valid ranges as numeric bounds.

    Args:
        ranges (Sequence[tuple]): one ``(lo, hi)`` per level, ``sqrt(w * h)`` in
            original pixels; ``-1`` or ``None`` leaves that end open.

    Returns:
        ndarray[L, 2] float64: ``(lo, hi)`` with open ends as ``0`` and ``inf``.
    """
    if isinstance(ranges, np.ndarray) and ranges.ndim == 2 and ranges.shape[1] == 2:
        items = ranges.tolist()
    else:
        try:
            items = [tuple(r) for r in ranges]
        except TypeError:
            raise ValueError(f'ranges: expected a sequence of (lo, hi) pairs, got {ranges!r}'
                             ) from None
    out = np.empty((len(items), 2), dtype=np.float64)
    for i, r in enumerate(items):
        if len(r) != 2:
            raise ValueError(f'ranges[{i}]: expected (lo, hi), got {r!r}')
        lo, hi = _bound(r[0], 'lo', i), _bound(r[1], 'hi', i)
        if not lo < hi:
            raise ValueError(f'ranges[{i}]: expected lo < hi, got {r!r}')
        out[i] = lo, hi
    return out


@functools.lru_cache(maxsize=64)
def _normalize_key(key: tuple) -> np.ndarray:
    arr = normalize_ranges(key)
    arr.flags.writeable = False
    return arr


def normalize_ranges_cached(ranges: Any) -> np.ndarray:
    """:func:`normalize_ranges`, memoised for hashable inputs; the result is read-only."""
    if not isinstance(ranges, np.ndarray):
        try:
            return _normalize_key(tuple(tuple(r) for r in ranges))
        except TypeError:
            pass
    return normalize_ranges(ranges)


def level_bounds(ranges: Any, levels: int, where: str = 'valid_ranges',
                 per: str = 'scale') -> np.ndarray:
    """The one "(lo, hi) per scale" check: ``ranges`` as bounds, one row per level.

    Used by the cover, the negative chips and ``SniperSettings``, so the three agree on what
    a valid list of ranges is.

    Args:
        ranges (Sequence[tuple] | ndarray): as :func:`normalize_ranges` takes them.
        levels (int): the number of scales the ranges belong to.
        where (str): named in errors.
        per (str): what each range belongs to, named in errors (``'scale of scales'``).

    Returns:
        ndarray[levels, 2] float64: :func:`normalize_ranges` of ``ranges`` (read-only).

    Raises:
        ValueError: a malformed range, or not exactly one range per level.
    """
    try:
        bounds = normalize_ranges_cached(ranges)
    except ValueError as err:
        raise ValueError(f'{where}: {err}') from None
    if len(bounds) != levels:
        raise ValueError(f'{where}: expected one (lo, hi) per {per} ({levels}), '
                         f'got {len(bounds)}')
    return bounds


def box_sizes(boxes: Any) -> Any:
    """``sqrt(w * h)`` of xyxy boxes; negative extents count as 0.

    The one definition of a box's size, in the frame of the boxes given.

    Args:
        boxes (ndarray[..., 4] | Tensor[..., 4]): ``(x1, y1, x2, y2)``; a torch tensor
            is handled with its own operations (same numbers, on its device), so the
            model adapters share this definition without the core importing torch.

    Returns:
        ndarray[...] | Tensor[...]: the sizes, same type as ``boxes``.
    """
    w = boxes[..., 2] - boxes[..., 0]
    h = boxes[..., 3] - boxes[..., 1]
    if isinstance(boxes, np.ndarray):
        return np.sqrt(np.maximum(w, 0.0) * np.maximum(h, 0.0))
    return (w.clamp(min=0) * h.clamp(min=0)).sqrt()  # a torch.Tensor


def range_mask(sizes: Any, lo: Any, hi: Any, inclusive: str = 'left') -> Any:
    """The valid-range test, the only one in the package.

    Args:
        sizes (ndarray | Tensor): ``sqrt(w * h)`` in ORIGINAL pixels.
        lo, hi (float | ndarray): numeric bounds (open ends as ``0`` / ``inf``, see
            :func:`normalize_ranges`); arrays broadcast against ``sizes``.
        inclusive (str): ``'left'``: ``lo <= size < hi``, the reference's training
            convention (chips, assignment, proposals); ``'right'``: ``lo < size <= hi``,
            its test-time convention (the per-level detections of the pyramid).

    Returns:
        ndarray | Tensor bool: True where the size is in range (type of ``sizes``).
    """
    if inclusive == 'left':
        return (sizes >= lo) & (sizes < hi)
    if inclusive == 'right':
        return (sizes > lo) & (sizes <= hi)
    raise ValueError(f"inclusive: expected 'left' or 'right', got {inclusive!r}")


def valid_range_mask(boxes: np.ndarray, lo_hi: tuple[Any, Any],
                     inclusive: str = 'left') -> np.ndarray:
    """Which boxes a level is responsible for.

    Args:
        boxes (ndarray[N, 4] float): ``(x1, y1, x2, y2)`` in original pixels.
        lo_hi (tuple): ``(lo, hi)`` bounds of ``sqrt(w * h)`` in original pixels;
            ``-1`` or ``None`` leaves that end open.
        inclusive (str): ``'left'`` tests ``lo <= size < hi``, the training convention
            of the reference; ``'right'`` tests ``lo < size <= hi``, the reference's
            test-time convention. An open ``lo`` is 0, so with ``'right'`` a box of
            zero area is never in range.

    Returns:
        ndarray[N] bool: True where the box is in range.
    """
    arr = as_boxes(boxes)
    (lo, hi), = normalize_ranges([lo_hi])
    return range_mask(box_sizes(arr), lo, hi, inclusive)
