"""Which part of an image file a chip needs, and at which stored resolution.

Shared by the loader (:class:`~mmsniper.datasets.LoadChipWindow`, which reads the window)
and :class:`~mmsniper.datasets.ChipGenerator` (which cuts the chip from it), so the two
agree on the window by construction; and :class:`ScaledWindows`, the windows of a test-time
pyramid level read from a file.

Frames: ORIGINAL pixels are the image file's (EXIF orientation applied); a window read at
factor ``k`` holds LEVEL pixels, LEVEL = ORIGINAL / k (pixel ``(i, j)`` of level ``k``
covers ORIGINAL ``[j*k, (j+1)*k) x [i*k, (i+1)*k)``).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional, Sequence

import cv2
import numpy as np

from ..chips.scales import scaled_image_size, scaled_lengths
from .reader import SOURCES

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


def reads_fit_level(box: Sequence[float], scale: float, image_size: tuple[int, int],
                    fit_size: Optional[Sequence[int]]) -> bool:
    """Whether a chip is the whole image resized to a pyramid's fit level, and so a crop of it.

    True when the chip's ORIGINAL window (:func:`crop_window`) is the whole image and that
    window resized by ``scale`` (:func:`~mmsniper.chips.scales.scaled_image_size`, as
    ``ChipGenerator`` sizes it) is ``fit_size``: the chip's pixels are then the fit level's
    (both are ``cv2.resize(image, fit_size, INTER_AREA)``), cut exactly as from the resize.

    Args:
        box (tuple[float, float, float, float]): the chip's ``(x1, y1, x2, y2)``, ORIGINAL.
        scale (float): the chip's factor (SCALED = ORIGINAL * scale).
        image_size (tuple[int, int]): ``(W, H)`` ORIGINAL.
        fit_size (tuple[int, int] | None): the file's fit level, ``(w, h)`` SCALED.
    """
    if fit_size is None or float(scale) >= 1:
        return False
    w, h = int(image_size[0]), int(image_size[1])
    if tuple(crop_window(box, (w, h))) != (0, 0, w, h):
        return False
    return scaled_image_size((w, h), scale) == tuple(int(v) for v in fit_size)


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


def box_kernel(width: float) -> np.ndarray:
    """A centred box of fractional ``width`` (LEVEL pixels) as an odd-length 1-D kernel.

    ``width <= 1``: ``[1]`` (no filtering). Otherwise ``n = floor((width - 1) / 2)`` whole
    taps each side of the centre, and, when ``width`` is not ``2n + 1``, one more tap each
    side weighted by the remainder ``(width - 2n - 1) / 2``; the taps sum to 1. Symmetric,
    so filtering moves nothing (an even integer box would move the image by half a pixel).

    Returns:
        ndarray[L] float32, ``L`` odd.
    """
    w = float(width)
    if w <= 1 + FACTOR_TOL:
        return np.ones(1, np.float32)
    n = int(math.floor((w - 1) / 2 + FACTOR_TOL))
    rem = (w - 2 * n - 1) / 2
    taps = np.ones(2 * n + 1, np.float64)
    if rem > FACTOR_TOL:
        taps = np.concatenate(([rem], taps, [rem]))
    return (taps / taps.sum()).astype(np.float32)


def prefilter_for_scale(img: np.ndarray, k: int, scale: Sequence[float]) -> np.ndarray:
    """Low-pass a level before it is sampled bilinearly for a shrink of 2x or more.

    A window read at factor ``k`` is sampled for ``scale = (sx, sy)``, a shrink of ``r =
    1 / (k * s)`` LEVEL pixels per output pixel along each axis. Bilinear sampling alone
    averages about 2 of them, so from ``r >= 2`` on the level is first filtered with a
    centred box of width ``r - 1`` (:func:`box_kernel`; OpenCV ``sepFilter2D``, border
    replicated): the box and the bilinear pass together come closest to OpenCV's area
    average of ``r x r`` among the rules we measured for ``2 <= r < 4``
    (docs/reports/large_images.md, "Fidelity"; block means of ``floor(r)``, the earlier rule, were
    2-8 grey levels off when the blocks did not line up with the chip's pixels). Under 2x
    nothing is done.

    Args:
        img (ndarray[h, w, C] uint8): LEVEL pixels.
        k (int): its factor.
        scale (tuple[float, float]): ``(sx, sy)``, SCALED = ORIGINAL * s.

    Returns:
        ndarray[h, w, C]: the filtered level (``img`` itself when both shrinks are < 2).
    """
    rx, ry = (1.0 / (k * float(v)) for v in scale)
    if max(rx, ry) < 2 - FACTOR_TOL:
        return img
    kx, ky = box_kernel(rx - 1), box_kernel(ry - 1)
    out = cv2.sepFilter2D(img, -1, kx, ky, borderType=cv2.BORDER_REPLICATE)
    return out[:, :, None] if out.ndim < img.ndim else out


class ScaledWindows:
    """Windows of an image file resized by ``(sx, sy)``, without the resized (or, for a
    pyramid, the whole) image in memory: the chip grid of a test-time pyramid level.

    Pixel ``X`` of the scaled image is sampled bilinearly at ORIGINAL ``(X + 0.5) / sx -
    0.5`` (pixel centres, as ``cv2.resize`` and
    :func:`cut_scaled_window` map them), read from the coarsest stored
    level ``k`` whose resolution is still at least the scale. A pyramid is read by window,
    per call; any other file is decoded once, at level ``k`` (a JPEG at 1/2, 1/4, 1/8
    where the scale allows), at the first :meth:`cut`, and windows are cut from that
    (:meth:`ImageSource.hold <mmsniper.imagefiles.ImageSource.hold>`).

    Args:
        source (ImageSource): the opened file (:func:`mmsniper.imagefiles.open_image`).
        scale (tuple[float, float]): ``(sx, sy)``, SCALED = ORIGINAL * factor per axis.
    """

    def __init__(self, source: Any, scale: Sequence[float]) -> None:
        self.source = source
        self.sx, self.sy = (float(v) for v in scale)
        self.k = level_factor(max(self.sx, self.sy), source.factors)
        self._held = None  # the decoded level of a non-pyramid file, from the first cut

    def cut(self, window: Sequence[int]) -> np.ndarray:
        """``window = (x1, y1, x2, y2)`` of the scaled image (SCALED pixels, whole) as an
        ``ndarray[y2 - y1, x2 - x1, 3]`` uint8."""
        x1, y1, x2, y2 = (int(v) for v in window)
        W, H = self.source.size
        k, sx, sy = self.k, self.sx, self.sy
        # ORIGINAL pixels the bilinear samples touch, one pixel of margin, on the k grid
        ox1 = min(max(0, math.floor((x1 + 0.5) / sx - 0.5) - 1), W - 1) // k * k
        oy1 = min(max(0, math.floor((y1 + 0.5) / sy - 0.5) - 1), H - 1) // k * k
        ox2 = min(W, math.ceil((x2 - 0.5) / sx - 0.5) + 2)
        oy2 = min(H, math.ceil((y2 - 0.5) / sy - 0.5) + 2)
        ox2, oy2 = max(ox2, ox1 + 1), max(oy2, oy1 + 1)
        if self.source.kind == 'pyramid':
            arr = self.source.read((ox1, oy1, ox2, oy2), k)
        else:
            if self._held is None:
                self._held = self.source.hold(k)
            arr = self._held.crop(*level_slice((ox1, oy1, ox2, oy2), (0, 0, k)))
        arr = prefilter_for_scale(arr, k, (sx, sy))  # a JPEG read at 1/8 at most
        # output X -> level u = ((X + x1 + 0.5) / sx - ox1) / k - 0.5 (continuous coords)
        m = np.array([[1 / (sx * k), 0, ((x1 + 0.5) / sx - ox1) / k - 0.5],
                      [0, 1 / (sy * k), ((y1 + 0.5) / sy - oy1) / k - 0.5]])
        out = cv2.warpAffine(np.ascontiguousarray(arr), m, (x2 - x1, y2 - y1),
                             flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REPLICATE)
        return out if out.ndim == 3 else out[:, :, None]

    def whole(self, size: Sequence[int]) -> np.ndarray:
        """The whole image resized to ``size = (sw, sh)`` (bilinear from level ``k``)."""
        img = self.source.read(None, self.k)
        return cv2.resize(img, (int(size[0]), int(size[1])), interpolation=cv2.INTER_LINEAR)


def _pair(scale: Any) -> tuple[float, float]:
    try:
        pair = (float(scale), float(scale)) if np.ndim(scale) == 0 else tuple(
            float(v) for v in scale)
    except (TypeError, ValueError):
        pair = ()
    if len(pair) != 2 or not all(math.isfinite(v) and v > 0 for v in pair):
        raise ValueError(f'scale: expected a positive factor or (sx, sy), got {scale!r}')
    return pair


def cut_scaled_window(img: np.ndarray, window: Any, scale: Any) -> np.ndarray:
    """One window of the image resized by ``scale``, without resizing the whole image.

    Pixel ``(x, y)`` of the result is pixel ``(x1 + x, y1 + y)`` of the image resized
    to ``(sw, sh) = (w * sx, h * sy)`` by ``cv2.resize(..., INTER_LINEAR)``, up to
    rounding: the same pixel-centre mapping, bilinear, edges replicated (where
    cv2.resize takes a shortcut, e.g. 2x2 block means for some exact halvings, values
    may differ slightly).
    Only the part of ``img`` the window needs is read, so memory is of the order of
    the window.

    Args:
        img (ndarray[H, W] or ndarray[H, W, C]): the ORIGINAL image (any view of it).
        window (tuple[int, int, int, int]): ``(x1, y1, x2, y2)`` in SCALED pixels,
            whole numbers, ``x2 > x1``, ``y2 > y1``.
        scale (float | tuple[float, float]): ``(sx, sy)``, scaled = original * factor
            per axis; pass a ``PyramidResize`` view's ``scale_factor``
            (``(sw / w, sh / h)``) to match its whole-image resize exactly.

    Returns:
        ndarray[y2 - y1, x2 - x1(, C)]: the window, dtype of ``img``, C-contiguous.
    """
    import cv2

    sx, sy = _pair(scale)
    try:
        x1, y1, x2, y2 = (int(v) for v in window)
    except (TypeError, ValueError):
        raise ValueError(f'window: expected (x1, y1, x2, y2), got {window!r}') from None
    if not (x2 > x1 and y2 > y1):
        raise ValueError(f'window: expected x2 > x1 and y2 > y1, got {window!r}')
    if img.ndim not in (2, 3):
        raise ValueError(f'img: expected (H, W) or (H, W, C), got shape {img.shape}')
    h, w = img.shape[:2]
    # Source coordinate of scaled pixel X (cv2.resize's mapping): (X + 0.5) / s - 0.5.
    # Bilinear reads floor(src) and floor(src) + 1: crop just that, clipped to the image.
    sx0, sy0 = (x1 + 0.5) / sx - 0.5, (y1 + 0.5) / sy - 0.5
    sx1, sy1 = (x2 - 0.5) / sx - 0.5, (y2 - 0.5) / sy - 0.5
    cx0 = min(max(int(math.floor(sx0)), 0), w - 1)
    cy0 = min(max(int(math.floor(sy0)), 0), h - 1)
    cx1 = min(max(int(math.floor(sx1)) + 2, cx0 + 1), w)
    cy1 = min(max(int(math.floor(sy1)) + 2, cy0 + 1), h)
    crop = np.ascontiguousarray(img[cy0:cy1, cx0:cx1])
    # Inverse map (output pixel -> crop pixel); BORDER_REPLICATE clamps like cv2.resize.
    m = np.array([[1.0 / sx, 0.0, sx0 - cx0], [0.0, 1.0 / sy, sy0 - cy0]], dtype=np.float64)
    out = cv2.warpAffine(crop, m, (x2 - x1, y2 - y1),
                         flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_REPLICATE)
    if img.ndim == 3 and out.ndim == 2:  # cv2 drops a single channel
        out = out[:, :, None]
    return np.ascontiguousarray(out)


def file_chip_cutter(meta: dict, scale: tuple) -> Callable[[Sequence[int]], np.ndarray]:
    """Chips of a view that :class:`~mmsniper.datasets.LoadImageForPyramid` left on disk
    (``pyramid_chips == 'file'``): ``cut((x1, y1, x2, y2))`` gives that window (SCALED
    pixels of the view, flipped as the view is) of the file resized by ``scale``.

    Args:
        meta (dict): the view's metainfo: ``img_path``, ``ori_shape`` and, for flipped
            views, ``flip`` / ``flip_direction``.
        scale (tuple[float, float]): ``(sx, sy)``, SCALED = ORIGINAL * factor.

    Returns:
        callable: ``window -> ndarray[y2 - y1, x2 - x1, 3] uint8`` (BGR, as decoded).
    """
    path = meta['img_path']
    src = SOURCES.find(path) or SOURCES.get(path)
    windows = ScaledWindows(src, scale)
    h, w = meta['ori_shape'][:2]
    # The view's scaled size by the package's one rounding rule (scale is (sw / w, sh / h)).
    sw, sh = (int(v) for v in scaled_lengths(np.array((w, h)), np.array(scale[:2])))
    direction = meta.get('flip_direction') if meta.get('flip', False) else None
    if direction not in (None, 'horizontal', 'vertical', 'diagonal'):
        raise ValueError(f'{path}: flip_direction {direction!r} is not supported here')

    def cut(window: Sequence[int]) -> np.ndarray:
        x1, y1, x2, y2 = (int(v) for v in window)
        if direction in ('horizontal', 'diagonal'):
            x1, x2 = sw - x2, sw - x1
        if direction in ('vertical', 'diagonal'):
            y1, y2 = sh - y2, sh - y1
        arr = windows.cut((x1, y1, x2, y2))
        if direction in ('horizontal', 'diagonal'):
            arr = arr[:, ::-1]
        if direction in ('vertical', 'diagonal'):
            arr = arr[::-1]
        return np.ascontiguousarray(arr)

    return cut
