"""The test-time image pyramid: ``PyramidResize`` makes one level of it.

Used inside ``TestTimeAug`` (one ``PyramidResize`` per level, see
``configs/_base_/sniper_tta.py``, where one template stands for all levels and
:class:`~mmsniper.engine.SniperRunner` makes one per ``sniper.test_scales`` entry, with
its ``test_ranges`` entry); :class:`~mmsniper.models.SniperTTAModel` reads the
``pyramid_*`` keys to know which valid range each view answers for, and which views are
too large to process whole (it runs those as chip grids).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from mmdet.datasets.transforms import Resize
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import autocast_box_type

from ..chips import normalize_ranges, scale_factor, scaled_image_size
from ..imagefiles import ScaledWindows
from .loading import image_source

#: Meta keys PackDetInputs must keep for SniperTTAModel (see configs/_base_/sniper_tta.py).
PYRAMID_META_KEYS = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                     'flip_direction', 'pyramid_level', 'pyramid_scale', 'pyramid_range',
                     'pyramid_chips')


@TRANSFORMS.register_module()
class PyramidResize(Resize):
    """Resize the whole image to one level of SNIPER's test pyramid.

    The factor is :func:`mmsniper.chips.scale_factor` of the ORIGINAL image size and
    ``scale``, the convention of training (``(short, long)``: ``short / min(w, h)``,
    reduced so that the long side stays within ``long``; ``(-1, L)``: long side ``L``;
    a number: that factor). The image becomes ``round(w * s) x round(h * s)``
    (:func:`mmsniper.chips.scaled_image_size`) and ``scale_factor`` is the exact
    per-axis ratio, as MMDetection's ``Resize`` records it, so a detector's
    ``rescale=True`` maps boxes back to ORIGINAL pixels.

    When the scaled image would exceed ``max_pixels`` the image is NOT resized: it
    stays ORIGINAL (``scale_factor`` 1) and ``pyramid_chips`` is True; the TTA model
    then cuts the level as a grid of chips from the original, so no full-size scaled
    copy is ever made. A plain detector must not be given such a view.

    Required Keys:

    - img (ndarray[H, W, C]): the ORIGINAL image
    - gt_bboxes (BaseBoxes, optional), gt_masks (optional), gt_seg_map (optional)

    Modified Keys:

    - img, img_shape: the scaled image (unchanged when ``pyramid_chips``)
    - gt_bboxes, gt_masks, gt_seg_map: scaled like the image (when present)

    Added Keys:

    - scale (``(w, h)`` of the scaled image), scale_factor (``(w_scale, h_scale)``),
      keep_ratio (True), homography_matrix (the resize composed with any earlier one)
    - pyramid_level (int): ``level``
    - pyramid_scale (float): the level's factor ``s`` (scaled = original * s)
    - pyramid_range (tuple[float, float]): the level's test range ``(lo, hi]``, ORIGINAL
      pixels of ``sqrt(w * h)``, open ends ``0``/``inf`` (when ``test_range`` is given)
    - pyramid_chips (bool | str): True when the level is left to the chip grid;
      ``'file'`` when, moreover, the image is a large file that
      :class:`~mmsniper.datasets.LoadImageForPyramid` left on disk (``img_source``): the
      TTA model then reads the chips by window. A whole level of such a file is read at
      the coarsest stored resolution that suffices and resized bilinearly

    Args:
        scale (float | tuple[float, float]): the level's scale, see
            :func:`mmsniper.chips.scale_factor`.
        level (int): index of the level in the pyramid (``sniper.test_scales``).
        test_range (tuple, optional): the detections this level keeps, ``(lo, hi)``
            ORIGINAL pixels of ``sqrt(w * h)`` (``-1`` open), a ``sniper.test_ranges``
            entry; written to the view's metainfo for ``SniperTTAModel``.
        max_pixels (int, optional): largest ``scaled_w * scaled_h`` resized whole;
            None: always resize whole. Default None.
        clip_object_border (bool): clip resized ground truth to the image. Default True.
        backend (str): ``'cv2'`` or ``'pillow'``. Default ``'cv2'``.
        interpolation (str): as in MMDetection's ``Resize``. Default ``'bilinear'``.
    """

    def __init__(self, scale: Any, level: int, test_range: Any = None,
                 max_pixels: int | None = None, clip_object_border: bool = True,
                 backend: str = 'cv2',
                 interpolation: str = 'bilinear') -> None:
        # The parent's own scale / scale_factor are unused: ``transform`` sets the target
        # size per image. keep_ratio=False makes it resize to exactly that size.
        super().__init__(scale_factor=1.0, keep_ratio=False,
                         clip_object_border=clip_object_border, backend=backend,
                         interpolation=interpolation)
        scale_factor((1.0, 1.0), scale)  # raises ValueError for a malformed scale
        if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or level < 0:
            raise ValueError(f'level: expected an int >= 0, got {level!r}')
        if max_pixels is not None and (isinstance(max_pixels, bool) or not isinstance(
                max_pixels, (int, float, np.integer)) or not max_pixels > 0
                or math.isnan(max_pixels)):
            raise ValueError(f'max_pixels: expected a positive number or None, got '
                             f'{max_pixels!r}')
        self.pyramid_scale = tuple(scale) if isinstance(scale, (list, tuple)) else scale
        self.level = int(level)
        self.test_range = None
        if test_range is not None:
            (lo, hi), = normalize_ranges([test_range])
            self.test_range = (float(lo), float(hi))
        self.max_pixels = max_pixels

    @autocast_box_type()
    def transform(self, results: dict) -> dict:
        # a large file LoadImageForPyramid left on disk: its size is ori_shape
        source = image_source(results)
        h, w = results['img'].shape[:2] if source is None else results['ori_shape'][:2]
        s = scale_factor((w, h), self.pyramid_scale)
        sw, sh = scaled_image_size((w, h), s)
        chips = self.max_pixels is not None and sw * sh > self.max_pixels
        if chips:
            # Left ORIGINAL: the TTA model cuts the level's chips from it.
            results['scale'] = (w, h)
            results['img_shape'] = (h, w)
            results['scale_factor'] = (1.0, 1.0)
        else:
            results['scale'] = (sw, sh)
            if source is None:
                self._resize_img(results)
            else:  # read at the coarsest stored level that suffices, then resized
                img = ScaledWindows(source, (sw / w, sh / h)).whole((sw, sh))
                results.update(img=img, img_shape=img.shape[:2], scale_factor=(sw / w, sh / h))
                del results['img_source']
            self._resize_bboxes(results)
            self._resize_masks(results)
            self._resize_seg(results)
        self._record_homography_matrix(results)
        results['keep_ratio'] = True
        results['pyramid_level'] = self.level
        results['pyramid_scale'] = float(s)
        if self.test_range is not None:
            results['pyramid_range'] = self.test_range
        results['pyramid_chips'] = ('file' if source is not None else True) if chips else False
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale={self.pyramid_scale!r}, level={self.level}, '
                f'test_range={self.test_range!r}, max_pixels={self.max_pixels!r}, '
                f'clip_object_border={self.clip_object_border}, backend={self.backend!r}, '
                f'interpolation={self.interpolation!r})')


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
