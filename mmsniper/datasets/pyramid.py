"""The test-time image pyramid: ``PyramidResize`` makes one level of it.

Used inside ``TestTimeAug`` (one ``PyramidResize`` per level, see
``configs/_base_/sniper_tta.py``, where one template stands for all levels and
:class:`~mmsniper.engine.SniperRunner` makes one per ``sniper.test_scales`` entry, with
its ``test_ranges`` entry); :class:`~mmsniper.models.SniperTTAModel` reads the
``pyramid_*`` keys to know which valid range each view answers for, and which views are
too large to process whole (it runs those as chip grids).
"""
from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch
from mmcv.transforms import TestTimeAug
from mmdet.datasets.transforms import PackDetInputs, Resize
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import autocast_box_type

from ..chips import normalize_ranges, scale_factor, scaled_image_size
from ..imagefiles import ScaledWindows, image_source

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


@TRANSFORMS.register_module()
class PyramidTestTimeAug(TestTimeAug):
    """``TestTimeAug`` whose views share the decoded image instead of each deep-copying it.

    mmcv's ``TestTimeAug`` deep-copies the whole ``results`` for every view. For a pyramid
    that is one more ORIGINAL-size image per level; a level left to the chip grid
    (``pyramid_chips``) keeps its copy until the model has run, which on an 8000 x 8000
    image is 192 MB beyond what SAHI holds (docs/reports/sliced_inference.md). Here every
    key but ``img`` is deep-copied as before and ``img`` is shared.

    The trap: a transform inside the views must not modify ``img`` in place, or every view
    sees the change. mmcv's and MMDetection's test transforms (``Resize``, ``RandomFlip``,
    ``Pad``, ``PyramidResize``) return new arrays or views; a project's own in-place
    transform needs plain ``TestTimeAug``.

    Required Keys:

    - img (ndarray[H, W, C]): the ORIGINAL image, shared by all views

    Args:
        transforms (list[list[dict]]): as in ``TestTimeAug``: one list of alternatives per
            stage; the views are their product.
    """

    def transform(self, results: dict) -> dict:
        img = results.get('img')
        rest = {k: v for k, v in results.items() if k != 'img'}
        views = []
        for subroutine in self.subroutines:
            view = copy.deepcopy(rest)
            if img is not None:
                view['img'] = img
            out = subroutine(view)
            if not isinstance(out, dict):
                raise TypeError(f'{subroutine} returned {type(out).__name__} in '
                                'PyramidTestTimeAug; every view must return a dict')
            views.append(out)
        return {key: [v[key] for v in views] for key in views[0]}


@TRANSFORMS.register_module()
class PackPyramidInputs(PackDetInputs):
    """``PackDetInputs`` that packs a chip-grid level without copying its image.

    ``PackDetInputs`` makes every image a contiguous ``Tensor[C, H, W]``: for a level that
    :class:`PyramidResize` left ORIGINAL for the chip grid (``pyramid_chips`` True), that is
    a full-size copy the model never needs, since it cuts chips from the level and stacks
    each batch anyway. Such a level is packed as ``torch.from_numpy(img).permute(2, 0, 1)``:
    a ``Tensor[C, H, W]`` view of the same memory (non-contiguous). Every other view
    (resized levels, flipped images, a plain detector's input) is packed as
    ``PackDetInputs`` packs it.

    Required Keys:

    - img (ndarray[H, W, C])
    - pyramid_chips (bool | str, optional): from :class:`PyramidResize`

    Added Keys:

    - inputs (Tensor[C, H, W]), data_samples (DetDataSample): as in ``PackDetInputs``

    Args:
        meta_keys (tuple[str]): as in ``PackDetInputs``; keep :data:`PYRAMID_META_KEYS`.
    """

    def transform(self, results: dict) -> dict:
        img = results.get('img')
        shareable = (results.get('pyramid_chips') is True and isinstance(img, np.ndarray)
                     and img.ndim == 3 and all(st >= 0 for st in img.strides))
        if not shareable:
            return super().transform(results)
        packed = super().transform({k: v for k, v in results.items() if k != 'img'})
        packed['inputs'] = torch.from_numpy(img).permute(2, 0, 1)  # a view: no copy
        return packed
