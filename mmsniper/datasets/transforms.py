"""SNIPER's training transform: ``ChipGenerator`` cuts the chip and decides, once, which of
its boxes the network learns from.

Typical training pipeline (see ``configs/_base_/sniper_pipeline.py``)::

    LoadImageFromFile -> LoadAnnotations -> ChipGenerator -> RandomFlip
        -> PackDetInputs(meta_keys=SNIPER_META_KEYS)
"""
from __future__ import annotations

import math
import os
from typing import Any, Optional, Sequence

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import HorizontalBoxes, get_box_tensor
from mmdet.structures.mask import BitmapMasks, PolygonMasks

from ..annotations import size_mismatch
from ..chips import (
    Chip,
    SniperSettings,
    assign_boxes,
    draw_ticket,
    make_ticket,
    scale_factors,
    scaled_image_size,
)
from ..chips.masks import map_polygons
from ..imagefiles.windows import crop_window, level_slice, prefilter_for_scale
from .tickets import ChipTicket

#: Meta keys PackDetInputs must keep for SNIPER's model parts (range-aware RoI head).
SNIPER_META_KEYS = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'pad_shape',
                    'scale_factor', 'flip', 'flip_direction', 'chip', 'chip_level',
                    'chip_scale', 'chip_kind', 'chip_valid_range')


def _boxes_array(results: dict) -> np.ndarray:
    boxes = results.get('gt_bboxes')
    if boxes is None:
        return np.zeros((0, 4), dtype=np.float64)
    return np.asarray(get_box_tensor(boxes), dtype=np.float64).reshape(-1, 4)


def _part_start(b1: float, b2: float, o1: int, size: int, f: float, n: int, c: int) -> int:
    """First crop pixel of a chip side ``[b1, b2]`` (ORIGINAL) in a crop from ``o1`` resized
    by ``f`` to ``n`` pixels; the part is ``c`` pixels. See ``ChipGenerator._cut``."""
    if b2 >= size and b1 > 0:  # on the far border: end where the image ends
        return max(0, n - c)
    return min(max(0, round((b1 - o1) * f)), n - 1)


def _window(chip: Chip, hw: tuple) -> dict:
    """Where a chip is cut: the integer ORIGINAL window ``o*``, its resized size ``n*``,
    the part's start ``d*`` and size ``c*`` in the resized crop, and the affine map
    ``(sx, sy, tx, ty)`` (CHIP = ORIGINAL * s + t). See ``ChipGenerator._cut``."""
    H, W = hw
    s = chip.scale
    bx1, by1, bx2, by2 = chip.box
    cx1, cy1, cx2, cy2 = chip.scaled_box
    cw, ch = cx2 - cx1, cy2 - cy1
    # integer ORIGINAL window holding the chip (one pixel of margin for interpolation)
    ox1, oy1, ox2, oy2 = crop_window(chip.box, (W, H))
    # resized size of that window (rounded as scaled_image_size rounds)
    nw = max(1, math.floor((ox2 - ox1) * s + 0.5))
    nh = max(1, math.floor((oy2 - oy1) * s + 0.5))
    sx, sy = nw / (ox2 - ox1), nh / (oy2 - oy1)
    # the chip's window inside the resized crop, in the crop's own pixels (sx, not s:
    # far from the origin the two drift apart by pixels)
    dx = _part_start(bx1, bx2, ox1, W, sx, nw, cw)
    dy = _part_start(by1, by2, oy1, H, sy, nh, ch)
    return dict(ox1=ox1, oy1=oy1, ox2=ox2, oy2=oy2, nw=nw, nh=nh, dx=dx, dy=dy, cw=cw,
                ch=ch, affine=(sx, sy, -ox1 * sx - dx, -oy1 * sy - dy))


def _cut_plane(img: np.ndarray, g: dict, chip_size: int, pad_val: Any,
               scale: float, as_float: bool = False,
               origin: tuple = (0, 0, 1)) -> np.ndarray:
    """Crop ``img`` (ORIGINAL, ``[H, W(, C)]``) to the window ``g``, resize only that,
    cut the chip's part and pad it to ``chip_size x chip_size`` at the bottom/right.
    ``as_float``: resample (and return) float32, e.g. a 0/1 mask as coverage fractions.
    ``origin``: ``(x0, y0, k)`` when ``img`` is a window read at factor ``k``, ``(0, 0,
    'fit')`` when it is already the resized window (``img_window``, see
    :class:`~mmsniper.datasets.LoadChipWindow`)."""
    win = (g['ox1'], g['oy1'], g['ox2'], g['oy2'])
    if origin[2] == 'fit':  # the pyramid's fit level: the resize below, done at conversion
        if img.shape[:2] != (g['nh'], g['nw']):
            raise ValueError(f"ChipGenerator: the loaded fit level is {img.shape[1]}x"
                             f"{img.shape[0]} pixels, but the chip resizes ORIGINAL {win} to "
                             f"{g['nw']}x{g['nh']}")
        return _pad_part(img, g, chip_size, pad_val)
    x0, y0, k = (int(v) for v in origin)
    rows, cols = level_slice(win, origin)  # LEVEL pixels of the window in img
    if rows.start < 0 or cols.start < 0 or rows.stop > img.shape[0] or \
            cols.stop > img.shape[1]:
        raise ValueError(f'ChipGenerator: the loaded window (img_window {tuple(origin)}, '
                         f'{img.shape[1]}x{img.shape[0]} pixels) does not hold the chip\'s '
                         f'ORIGINAL window {win}')
    if k > 1:
        return _cut_level(img, g, chip_size, pad_val, (x0, y0, k))
    crop = img[rows, cols]
    if as_float:
        crop = crop.astype(np.float32)  # the window only, never the full image
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(crop, (g['nw'], g['nh']), interpolation=interp)
    return _pad_part(resized, g, chip_size, pad_val)


def _pad_part(resized: np.ndarray, g: dict, chip_size: int, pad_val: Any) -> np.ndarray:
    """The chip's part of the resized window ``g``, padded to ``chip_size`` square."""
    part = resized[g['dy']:g['dy'] + g['ch'], g['dx']:g['dx'] + g['cw']]
    out = np.full((chip_size, chip_size) + resized.shape[2:], pad_val, dtype=resized.dtype)
    out[:part.shape[0], :part.shape[1]] = part
    return out


def _cut_level(img: np.ndarray, g: dict, chip_size: int, pad_val: Any,
               origin: tuple) -> np.ndarray:
    """:func:`_cut_plane` for an image read at factor ``k > 1``: the same chip, sampled
    from LEVEL pixels (``origin = (x0, y0, k)``), same window ``g`` and affine map.

    Resized-crop pixel ``X`` is ORIGINAL ``ox1 + (X + 0.5) / sx`` (pixel-centre mapping,
    as ``cv2.resize`` places it), i.e. level pixel ``(ox1 - x0 + (X + 0.5) / sx) / k -
    0.5``; the chip's part ``X >= dx`` is sampled there bilinearly in one pass. The
    loader reads the level with ``k * scale <= 1 < 2 k * scale`` where the file has it, so
    the remaining downscale is under 2x; where it is 2x or more (``LoadChipWindow(
    oversample=2)``, or a JPEG, which decodes at 1/8 at most), the level is low-passed
    first (:func:`~mmsniper.imagefiles.windows.prefilter_for_scale`; docs/reports/large_images.md
    gives the differences from INTER_AREA on ORIGINAL).
    """
    x0, y0, k = origin
    sx, sy = g['affine'][:2]
    img = prefilter_for_scale(img, k, (sx, sy))
    ph, pw = min(g['ch'], g['nh'] - g['dy']), min(g['cw'], g['nw'] - g['dx'])
    m = np.array([[1 / (sx * k), 0, (g['ox1'] - x0 + (g['dx'] + 0.5) / sx) / k - 0.5],
                  [0, 1 / (sy * k), (g['oy1'] - y0 + (g['dy'] + 0.5) / sy) / k - 0.5]])
    part = cv2.warpAffine(img, m, (pw, ph), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
    if part.ndim < img.ndim:  # cv2 drops a single channel
        part = part[:, :, None]
    out = np.full((chip_size, chip_size) + img.shape[2:], pad_val, dtype=img.dtype)
    out[:ph, :pw] = part
    return out


@TRANSFORMS.register_module()
class ChipGenerator(BaseTransform):
    """Cut one SNIPER chip out of the ORIGINAL image, map its ground truth into it, and mark
    the boxes this chip does not train on as ignored.

    The chip comes from ``results['chip']``, a :class:`~mmsniper.chips.ChipTicket` that
    :class:`~mmsniper.datasets.SniperDataset` puts there for
    :class:`~mmsniper.datasets.ChipSampler`; the ticket carries every value needed (valid
    range, chip size, ``min_size``, ``min_visible``). Without one ("simple mode", e.g.
    MMDetection's default sampler) the transform plans the image's chips with
    :func:`mmsniper.chips.draw_ticket` and its own settings (which
    :class:`~mmsniper.engine.SniperRunner` fills from the config's ``sniper`` block).

    The image is cropped BEFORE resizing: only the chip's window of the original image is
    resampled, so cutting a chip at scale 3 from a 10000x10000 image costs memory of the
    order of the crop, never of the rescaled full image. Downscaling uses area
    interpolation (no aliasing at the coarse levels), upscaling bilinear. The chip is
    zero-padded (``pad_val``) to ``chip_size x chip_size`` at the bottom/right.

    Every box that overlaps the chip is kept, mapped to CHIP pixels and clipped to the
    chip's crop; boxes that do not overlap it belong to other chips. Which kept boxes stay
    training targets is decided by one :func:`mmsniper.chips.assign_boxes` call: the chip
    is positive, the box's ``sqrt(w*h)`` in ORIGINAL pixels is in the ticket's valid range,
    after clipping it is at least ``min_size`` chip pixels on each side and at least
    ``min_visible`` of it is inside. The others get ``gt_ignore_flags = True`` (never
    deleted): ``PackDetInputs`` moves them to ``ignored_instances`` and the ignore-aware
    assigners neither reward nor punish anchors and proposals on them. Crowd boxes stay
    ignored.

    The decoded image must have the annotated size (``width``/``height`` of the data info,
    as ``CocoDataset`` gives them: chips are planned and boxes drawn in that frame): a
    mismatch (a wrong size in the file, width and height swapped, an image resized on disk)
    is an error naming the file, the image id and both sizes, in simple mode too.

    Required Keys:

    - img (ndarray[H, W, C]): the ORIGINAL image, as decoded (EXIF orientation applied),
      or a window of it read at a coarser level (``img_window``)
    - img_window (tuple, optional): ``(x0, y0, k)``: ``img`` holds level ``k`` (ORIGINAL /
      k) from ORIGINAL ``(x0, y0)`` on, at least the chip's window; or ``(0, 0, 'fit')``:
      ``img`` is the whole image resized to the chip's size, a pyramid's fit level
      (:class:`~mmsniper.datasets.LoadChipWindow`); removed once the chip is cut
    - ori_shape (tuple): with ``img_window``, the whole file's ``(H, W)``, checked
      against width/height
    - width, height (optional): the annotated size, checked against ``img``
    - gt_bboxes (HorizontalBoxes): ORIGINAL pixels
    - gt_bboxes_labels (ndarray[N] int64)
    - gt_ignore_flags (ndarray[N] bool)
    - gt_masks (PolygonMasks | BitmapMasks, optional): ORIGINAL pixels, one per box
    - chip (ChipTicket, optional)
    - homography_matrix (ndarray[3, 3], optional)

    Modified Keys:

    - img: the padded chip, ``chip_size x chip_size``
    - img_shape: ``(chip_size, chip_size)``
    - gt_bboxes: the boxes overlapping the chip, CHIP pixels, clipped
    - gt_bboxes_labels: the same subset
    - gt_ignore_flags: the same subset, True also for the boxes this chip does not
      train on
    - gt_masks: the same subset, cut like the image, ``chip_size x chip_size`` CHIP
      pixels (polygons clipped to the chip, bitmaps cropped before resizing; see
      ``docs/user_guides/masks.md``)
    - chip: the chip window ``(x1, y1, x2, y2)`` in ORIGINAL pixels

    Added Keys:

    - pad_shape, scale_factor (``(sx, sy)`` original -> chip), homography_matrix
    - chip_level (int), chip_scale (float), chip_kind (``'pos'``/``'neg'``),
      chip_valid_range (``(lo, hi)`` ORIGINAL pixels of ``sqrt(w*h)``)

    Args:
        scales, train_ranges, chip_size, stride, min_size, min_visible: simple mode only
            (tickets carry their own), as in :class:`~mmsniper.chips.SniperSettings`; all
            None (the default): no simple mode, a ticket is required.
        pad_val (int): value of the padding. Default 0 (the reference zero-pads).
    """

    def __init__(self, scales: Optional[Sequence[Any]] = None,
                 train_ranges: Optional[Sequence[Any]] = None, chip_size: Optional[int] = None,
                 stride: Optional[int] = None, min_size: Optional[float] = None,
                 min_visible: Optional[float] = None, pad_val: int = 0) -> None:
        given = dict(scales=scales, train_ranges=train_ranges, chip_size=chip_size,
                     stride=stride, min_size=min_size, min_visible=min_visible)
        given = {k: v for k, v in given.items() if v is not None}
        self.settings = SniperSettings.from_dict(given, where='ChipGenerator') if given \
            else None
        self.pad_val = pad_val
        self._rng: Optional[np.random.Generator] = None
        self._rng_pid = -1

    # simple mode -------------------------------------------------------------------------
    def _generator(self) -> np.random.Generator:
        """This process's generator of simple-mode draws.

        Seeded, the first time a process draws, from NumPy's global generator, which
        mmengine seeds from ``randomness.seed`` in the main process and again in each
        data-loader worker (seed + worker id + rank): two runs with the same seed and the
        same number of workers draw the same chips. (Exact replay after ``--resume`` is
        ChipSampler's promise, not this mode's.)
        """
        if self._rng is None or self._rng_pid != os.getpid():
            self._rng = np.random.default_rng(np.random.randint(0, 2**31 - 1))
            self._rng_pid = os.getpid()
        return self._rng

    def _draw_ticket(self, results: dict, boxes: np.ndarray) -> ChipTicket:
        if self.settings is None:
            raise KeyError(f'ChipGenerator: no chip for image {results.get("img_path")}: use '
                           "ChipSampler (sampler=dict(type='ChipSampler')) with SniperDataset, "
                           'or give ChipGenerator its settings (simple mode; SniperRunner '
                           'fills them from the config\'s `sniper` block)')
        h, w = results['img'].shape[:2]
        usable = ~np.asarray(results.get('gt_ignore_flags', np.zeros(len(boxes), bool)), bool)
        return draw_ticket(boxes[usable], (w, h), self.settings, self._generator())

    # the cut -----------------------------------------------------------------------------
    def _cut(self, img: np.ndarray, chip: Chip, chip_size: int, hw: Optional[tuple] = None,
             origin: tuple = (0, 0, 1)):
        """Crop the original window, resize it, pad it; return the chip and the affine map.

        ``img`` is the ORIGINAL image, or with ``origin = (x0, y0, k)`` a window of it read
        at factor ``k`` (``img_window``); ``hw``: the ORIGINAL ``(H, W)`` then. The window,
        the resized size and the affine map below do not depend on ``k`` (so the boxes
        are mapped exactly as from the whole image); at ``k > 1`` the pixels are sampled
        from the level (``_cut_level``).

        Returns ``(out, (sx, sy, tx, ty), (ph, pw))`` with CHIP = ORIGINAL * (sx, sy) +
        (tx, ty) and ``ph x pw`` the filled part of ``out``.

        The filled part agrees with ``chip.box`` (the edge rule, :mod:`mmsniper.chips.chip`):
        each of its sides, in ORIGINAL pixels, is within one crop pixel (``1 / sx``) of the
        box's side, and exactly on the image's border where the box's side is. Why, along
        x (y is the same): the box ``[b1, b2]`` with window width ``c`` (``scaled_box``) is
        cut from ``[o1, o2]``, ``o1 = max(0, floor(b1) - 1)``, ``o2 = min(W, ceil(b2) + 1)``,
        ``L = o2 - o1 > b2 - b1``, resized to ``n = floor(L * s + 0.5)`` pixels (at least
        1), so ``f = sx = n / L`` and ``|f - s| <= 0.5 / L``. The part starts at crop pixel
        ``d`` and spans ``p`` of them: ORIGINAL ``o1 + d / f`` to ``o1 + (d + p) / f``.

        - ``b1 = 0``: ``o1 = 0``, ``d = 0``: the near side is 0.
        - ``b2 < W`` (the far side is ``c / s`` past ``b1``): ``d = round((b1 - o1) * f)``
          puts the near side within ``0.5 / f``. The crop is long enough, ``p = c``:
          ``n - d - c >= (o2 - b2) * f + (b2 - b1) * (f - s) - 0.5 > -1``. The far side is
          off by the near side's error plus ``c * |1 / f - 1 / s| = (b2 - b1) * |f - s| / f
          < 0.5 / f``: under ``1 / f``.
        - ``b2 = W`` (so ``o2 = W``): the part ends at the crop's end, ``d = n - c``,
          ``p = c``, far side ``o1 + n / f = W``. ``n >= c``: ``c = sw - b1 * s <= (W - b1)
          * s + 0.5`` and ``n > L * s - 0.5`` with ``L >= W - b1``. The near side misses
          ``b1`` by ``|(W - b1) * (f - s) - (sw - W * s)| / f < 1 / f``. With ``b1 = 0``
          too, ``n = c = sw`` and ``d = 0``; ``W * s < 0.5`` gives ``n = c = 1``.
        """
        g = _window(chip, hw or img.shape[:2])
        out = _cut_plane(img, g, chip_size, self.pad_val, chip.scale, origin=origin)
        ph = min(g['ch'], g['nh'] - g['dy'])
        pw = min(g['cw'], g['nw'] - g['dx'])
        return out, g['affine'], (ph, pw)

    def _cut_masks(self, masks: Any, keep: np.ndarray, chip: Chip, chip_size: int,
                   hw: tuple, filled: tuple, results: dict) -> Any:
        """The kept instances' masks through the chip, exactly as the image goes.

        ``PolygonMasks``: vertices mapped by the image's affine map and clipped to the
        filled part (:func:`mmsniper.chips.masks.map_polygons`; no raster). An instance
        with nothing left gets MMDetection's dummy polygon (zeros) so masks stay aligned
        with boxes. ``BitmapMasks``: each kept mask is cropped to the image's ORIGINAL
        window, resized with the image's interpolation and cut like the image (memory of
        the order of the chip), then thresholded at 0.5. Both end ``chip_size x
        chip_size`` (CHIP pixels), the padded image's shape.
        """
        H, W = hw
        where = f'image {results.get("img_path")} (img_id {results.get("img_id")})'
        if (masks.height, masks.width) != (H, W):
            raise ValueError(f'ChipGenerator: gt_masks of {where} are {masks.height}x'
                             f'{masks.width} (h x w) but the image is {H}x{W}: an RLE of the '
                             'wrong size? (tools/analysis_tools/check_dataset.py names the '
                             'annotations)')
        n_boxes = len(results['gt_bboxes_labels']) if 'gt_bboxes_labels' in results else None
        if n_boxes is not None and len(masks) != n_boxes:
            raise ValueError(f'ChipGenerator: {where} has {len(masks)} masks for {n_boxes} '
                             'boxes; masks must be loaded with their boxes (LoadAnnotations('
                             'with_bbox=True, with_mask=True) before ChipGenerator)')
        g = _window(chip, (H, W))
        if isinstance(masks, PolygonMasks):
            ph, pw = filled
            polys = []
            for i in keep.tolist():
                kept = map_polygons(masks.masks[i], g['affine'], (0, 0, pw, ph))
                polys.append(kept or [np.zeros(6, dtype=np.float32)])
            return PolygonMasks(polys, chip_size, chip_size)
        if isinstance(masks, BitmapMasks):
            out = np.zeros((len(keep), chip_size, chip_size), dtype=np.uint8)
            for k, i in enumerate(keep.tolist()):
                out[k] = _cut_plane(masks.masks[i], g, chip_size, 0, chip.scale,
                                    as_float=True) >= 0.5
            return BitmapMasks(out, chip_size, chip_size)
        raise TypeError(f'ChipGenerator: gt_masks of {where} is a {type(masks).__name__}; '
                        'expected PolygonMasks or BitmapMasks (LoadAnnotations(with_mask=True))')

    def transform(self, results: dict) -> dict:
        # A window from LoadChipWindow: the whole file's size is ori_shape.
        origin = tuple(results.get('img_window') or (0, 0, 1))
        H, W = results['img'].shape[:2] if 'img_window' not in results else \
            results['ori_shape'][:2]
        problem = size_mismatch((W, H), (results.get('width'), results.get('height')),
                                results.get('img_path'), results.get('img_id'))
        if problem:
            raise ValueError(f'ChipGenerator: {problem}')
        boxes = _boxes_array(results)
        ticket = results.get('chip')
        if ticket is None:
            ticket = self._draw_ticket(results, boxes)
        elif not isinstance(ticket, ChipTicket):
            raise TypeError(f'ChipGenerator: results["chip"] must be a ChipTicket, got '
                            f'{type(ticket).__name__} (image {results.get("img_path")})')
        chip, chip_size = ticket.chip, ticket.chip_size
        img, (sx, sy, tx, ty), (ph, pw) = self._cut(results['img'], chip, chip_size, (H, W),
                                                    origin)
        results.pop('img_window', None)  # the chip is no longer a window of the file

        # The one assignment: which boxes the chip shows, and which it trains on.
        a = assign_boxes(boxes, chip, ticket.valid_range, chip_size=chip_size,
                         min_size=ticket.min_size, min_visible=ticket.min_visible,
                         image_size=(W, H))
        keep = a.index
        # the kept boxes, mapped with exactly the image's affine map
        mapped = boxes[keep] * (sx, sy, sx, sy) + (tx, ty, tx, ty)
        mapped = np.clip(mapped, 0, (pw, ph, pw, ph)).astype(np.float32)

        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['pad_shape'] = img.shape[:2]
        results['scale_factor'] = (sx, sy)
        results['gt_bboxes'] = HorizontalBoxes(mapped.reshape(-1, 4))
        if results.get('gt_masks') is not None:
            results['gt_masks'] = self._cut_masks(results['gt_masks'], keep, chip, chip_size,
                                                  (H, W), (ph, pw), results)
        if 'gt_bboxes_labels' in results:
            results['gt_bboxes_labels'] = np.asarray(results['gt_bboxes_labels'])[keep]
        flags = np.asarray(results.get('gt_ignore_flags', np.zeros(len(boxes), bool)), bool)
        results['gt_ignore_flags'] = flags[keep] | ~a.valid
        m = np.array([[sx, 0, tx], [0, sy, ty], [0, 0, 1]], dtype=np.float32)
        prev = results.get('homography_matrix')
        results['homography_matrix'] = m if prev is None else m @ prev
        results['chip'] = chip.box
        results['chip_level'] = chip.level
        results['chip_scale'] = chip.scale
        results['chip_kind'] = chip.kind
        results['chip_valid_range'] = tuple(ticket.valid_range)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(settings={self.settings}, pad_val={self.pad_val})'


@TRANSFORMS.register_module()
class ScaleRangeFilter:
    """Folded into :class:`ChipGenerator` (which now marks the ignored boxes itself).

    Kept only to stop an old pipeline with a clear message instead of a registry miss.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise ValueError('ScaleRangeFilter is no longer a separate transform: ChipGenerator '
                         'marks the boxes a chip does not train on; remove ScaleRangeFilter '
                         'from the pipeline and set min_size / min_visible in the config\'s '
                         '`sniper` block')


@TRANSFORMS.register_module()
class SnipResize(ChipGenerator):
    """SNIP's training sample: the WHOLE image at one level of the training pyramid, drawn at
    random, learning only from the boxes in that level's valid range.

    SNIP (Singh and Davis, "An Analysis of Scale Invariance in Object Detection - SNIP", CVPR
    2018) is the full image pyramid with the valid ranges and no chips; SNIPER's claim is to
    match it at a fraction of its cost (``tools/analysis_tools/equal_compute.py`` measures
    that). Why a :class:`ChipGenerator`: SNIP's sample is SNIPER's chip grown to the whole
    scaled image, so it gets the same cut (area interpolation down, bilinear up), the same
    single assignment (:func:`mmsniper.chips.assign_boxes`: valid range in ORIGINAL pixels,
    ``min_size``, ``min_visible``) and the same metadata, and SNIPER's model parts
    (ignore-aware assigners, range-aware RoI head) train it unchanged. What differs: the
    level is drawn here, uniformly, once per sample (so each image is seen whole at every
    level over about ``num_levels`` epochs), and the image is NOT padded to a square (the
    data preprocessor pads the batch, as for any whole image).

    Use it with MMDetection's default sampler: no ``SniperDataset``, no ``ChipSampler``
    (a ticket in ``results['chip']`` is an error: the level is drawn here).

    Required Keys:

    - img (ndarray[H, W, C]): the ORIGINAL image
    - width, height (optional): the annotated size, checked against ``img``
    - gt_bboxes (HorizontalBoxes): ORIGINAL pixels
    - gt_bboxes_labels (ndarray[N] int64)
    - gt_ignore_flags (ndarray[N] bool)
    - gt_masks (PolygonMasks | BitmapMasks, optional)

    Modified Keys:

    - img: the whole image resized to the drawn level (SCALED pixels), not padded
    - img_shape: its ``(h, w)``
    - gt_bboxes: SCALED pixels (every box of the image: the chip is the whole image)
    - gt_ignore_flags: True also for the boxes outside the level's valid range, or under
      ``min_size`` scaled pixels
    - gt_masks: SCALED pixels, the image's size

    Added Keys:

    - as :class:`ChipGenerator`: pad_shape, scale_factor, homography_matrix, chip
      (``(0, 0, W, H)``, ORIGINAL), chip_level, chip_scale, chip_kind (``'pos'``),
      chip_valid_range

    Args:
        scales, train_ranges, min_size, min_visible: as in the config's ``sniper`` block
            (which :class:`~mmsniper.engine.SniperRunner` writes here); ``chip_size`` and
            ``stride`` mean nothing to SNIP.
        pad_val (int): unused (nothing is padded); kept for the parent's signature.
    """

    def __init__(self, scales: Optional[Sequence[Any]] = None,
                 train_ranges: Optional[Sequence[Any]] = None,
                 min_size: Optional[float] = None, min_visible: Optional[float] = None,
                 pad_val: int = 0) -> None:
        super().__init__(scales=scales, train_ranges=train_ranges, min_size=min_size,
                         min_visible=min_visible, pad_val=pad_val)

    def transform(self, results: dict) -> dict:
        if self.settings is None:
            raise KeyError('SnipResize: no scales and train_ranges: set the config\'s `sniper` '
                           "block and runner_type='SniperRunner' (which writes them here), or "
                           'give them to SnipResize')
        if results.get('chip') is not None:
            raise ValueError(f'SnipResize: image {results.get("img_path")} came with a chip '
                             'ticket, but SNIP draws its level itself: use MMDetection\'s '
                             'default sampler and dataset, not ChipSampler / SniperDataset')
        H, W = results['img'].shape[:2]
        st = self.settings
        # 1. one level at random; 2. the whole image is the chip of that level.
        level = int(self._generator().integers(st.num_levels))
        s = scale_factors((W, H), st.scales)[level]
        sw, sh = scaled_image_size((W, H), s)
        chip = Chip(level, s, (0.0, 0.0, float(W), float(H)))
        results['chip'] = make_ticket(-1, chip, st)._replace(chip_size=max(sw, sh))
        # 3. cut and assign exactly as a SNIPER chip ...
        results = super().transform(results)
        # 4. ... but keep the scaled image's own shape (no square padding).
        results['img'] = results['img'][:sh, :sw]
        results['img_shape'] = results['pad_shape'] = (sh, sw)
        if results.get('gt_masks') is not None:
            results['gt_masks'] = results['gt_masks'].crop(np.array([0, 0, sw, sh]))
        return results
