"""SNIPER's pipeline transforms: ``ChipGenerator`` cuts the chip, ``ScaleRangeFilter`` marks
the boxes the chip's level is not responsible for as ignored.

Typical training pipeline (see ``configs/_base_/sniper_pipeline.py``)::

    LoadImageFromFile -> LoadAnnotations -> ChipGenerator -> ScaleRangeFilter
        -> RandomFlip -> PackDetInputs(meta_keys=SNIPER_META_KEYS)
"""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import HorizontalBoxes

from ..annotations import size_mismatch
from ..chips import (
    Chip,
    assign_boxes,
    candidate_windows,
    generate_positive_chips,
    normalize_ranges,
    scale_factors,
    scaled_image_size,
)
from .tickets import ChipTicket

#: Meta keys PackDetInputs must keep for SNIPER's model parts (range-aware RoI head).
SNIPER_META_KEYS = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'pad_shape',
                    'scale_factor', 'flip', 'flip_direction', 'chip', 'chip_level',
                    'chip_scale', 'chip_kind', 'chip_valid_range')


def _boxes_array(results: dict) -> np.ndarray:
    boxes = results.get('gt_bboxes')
    if boxes is None:
        return np.zeros((0, 4), dtype=np.float64)
    t = boxes.tensor if hasattr(boxes, 'tensor') else boxes
    return np.asarray(t, dtype=np.float64).reshape(-1, 4)


def _part_start(b1: float, b2: float, o1: int, size: int, f: float, n: int, c: int) -> int:
    """First crop pixel of a chip side ``[b1, b2]`` (ORIGINAL) in a crop from ``o1`` resized
    by ``f`` to ``n`` pixels; the part is ``c`` pixels. See ``ChipGenerator._cut``."""
    if b2 >= size and b1 > 0:  # on the far border: end where the image ends
        return max(0, n - c)
    return min(max(0, round((b1 - o1) * f)), n - 1)


@TRANSFORMS.register_module()
class ChipGenerator(BaseTransform):
    """Cut one SNIPER chip out of the ORIGINAL image and map its ground truth into it.

    The chip comes from ``results['chip']`` (a :class:`~mmsniper.datasets.ChipTicket` put
    there by :class:`~mmsniper.datasets.SniperDataset` for :class:`ChipSampler`). Without
    one ("simple mode", e.g. MMDetection's default sampler) the transform plans the image's
    positive chips itself with the settings below and draws one at random; an image
    without any valid box gets a random window of a random level.

    The image is cropped BEFORE resizing: only the chip's window of the original image is
    resampled, so cutting a chip at scale 3 from a 10000x10000 image costs memory of the
    order of the crop, never of the rescaled full image. Downscaling uses area
    interpolation (no aliasing at the coarse levels), upscaling bilinear. The chip is
    zero-padded (``pad_val``) to ``chip_size x chip_size`` at the bottom/right.

    Every box that overlaps the chip is kept, mapped to CHIP pixels and clipped to the
    chip's crop; boxes that do not overlap it belong to other chips. Which kept boxes the
    network learns from is :class:`ScaleRangeFilter`'s decision.

    The decoded image must have the annotated size (``width``/``height`` of the data info,
    as ``CocoDataset`` gives them: chips are planned and boxes drawn in that frame): a
    mismatch (a wrong size in the file, width and height swapped, an image resized on disk)
    is an error naming the file, the image id and both sizes, in simple mode too.

    Required Keys:

    - img (ndarray[H, W, C]): the ORIGINAL image, as decoded (EXIF orientation applied)
    - width, height (optional): the annotated size, checked against ``img``
    - gt_bboxes (HorizontalBoxes): ORIGINAL pixels
    - gt_bboxes_labels (ndarray[N] int64)
    - gt_ignore_flags (ndarray[N] bool)
    - chip (ChipTicket, optional)
    - homography_matrix (ndarray[3, 3], optional)

    Modified Keys:

    - img: the padded chip, ``chip_size x chip_size``
    - img_shape: ``(chip_size, chip_size)``
    - gt_bboxes: the boxes overlapping the chip, CHIP pixels, clipped
    - gt_bboxes_labels, gt_ignore_flags: the same subset
    - chip: the chip window ``(x1, y1, x2, y2)`` in ORIGINAL pixels

    Added Keys:

    - pad_shape, scale_factor (``(sx, sy)`` original -> chip), homography_matrix
    - chip_level (int), chip_scale (float), chip_kind (``'pos'``/``'neg'``),
      chip_valid_range (``(lo, hi)`` ORIGINAL pixels of ``sqrt(w*h)``)
    - chip_gt_original (ndarray[K, 4]): the kept boxes in ORIGINAL pixels
      (consumed by :class:`ScaleRangeFilter`)

    Args:
        scales (list, optional): simple mode only: levels, as in ``SniperDataset``.
        valid_ranges (list, optional): simple mode only: one ``(lo, hi)`` per level.
        chip_size (int): simple mode only (tickets carry their own). Default 512.
        stride (int): simple mode only. Default 32.
        pad_val (int): value of the padding. Default 0 (the reference zero-pads).
    """

    def __init__(self, scales: Optional[Sequence[Any]] = None,
                 valid_ranges: Optional[Sequence[Any]] = None, chip_size: int = 512,
                 stride: int = 32, pad_val: int = 0) -> None:
        if (scales is None) != (valid_ranges is None):
            raise ValueError('ChipGenerator: give both scales and valid_ranges (simple mode) '
                             'or neither (chips come from ChipSampler tickets)')
        if scales is not None and len(scales) != len(valid_ranges):
            raise ValueError(f'ChipGenerator: expected one valid range per scale, got '
                             f'{len(scales)} scales and {len(valid_ranges)} ranges')
        self.scales = list(scales) if scales is not None else None
        self.valid_ranges = normalize_ranges(valid_ranges) if valid_ranges is not None else None
        self.chip_size = int(chip_size)
        self.stride = int(stride)
        self.pad_val = pad_val

    # simple mode -------------------------------------------------------------------------
    def _draw_ticket(self, results: dict, boxes: np.ndarray) -> ChipTicket:
        if self.scales is None:
            raise KeyError(f'ChipGenerator: no chip for image {results.get("img_path")}: use '
                           "ChipSampler (sampler=dict(type='ChipSampler')) with SniperDataset, "
                           'or give ChipGenerator scales and valid_ranges (simple mode)')
        h, w = results['img'].shape[:2]
        rng = np.random.default_rng()
        usable = ~np.asarray(results.get('gt_ignore_flags', np.zeros(len(boxes), bool)))
        chips = generate_positive_chips(boxes[usable], (w, h), self.scales, self.valid_ranges,
                                        chip_size=self.chip_size, stride=self.stride, rng=rng)
        if chips:
            chip = chips[int(rng.integers(len(chips)))]
        else:
            level = int(rng.integers(len(self.scales)))
            s = scale_factors((w, h), self.scales)[level]
            sw, sh = scaled_image_size((w, h), s)
            wins = candidate_windows(sw, sh, self.chip_size, self.stride)
            x1, y1, x2, y2 = wins[int(rng.integers(len(wins)))]
            chip = Chip(level, s, (x1 / s, y1 / s, x2 / s, y2 / s))
        lo, hi = self.valid_ranges[chip.level]
        return ChipTicket(-1, chip, (float(lo), float(hi)), self.chip_size)

    # the cut -----------------------------------------------------------------------------
    def _cut(self, img: np.ndarray, chip: Chip, chip_size: int):
        """Crop the original window, resize it, pad it; return the chip and the affine map.

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
        H, W = img.shape[:2]
        s = chip.scale
        bx1, by1, bx2, by2 = chip.box
        cx1, cy1, cx2, cy2 = chip.scaled_box
        cw, ch = cx2 - cx1, cy2 - cy1
        # 1. integer ORIGINAL window holding the chip (one pixel of margin for interpolation)
        ox1, oy1 = max(0, math.floor(bx1) - 1), max(0, math.floor(by1) - 1)
        ox2, oy2 = min(W, math.ceil(bx2) + 1), min(H, math.ceil(by2) + 1)
        crop = img[oy1:oy2, ox1:ox2]
        # 2. resize only that window (rounded as scaled_image_size rounds)
        nw = max(1, math.floor((ox2 - ox1) * s + 0.5))
        nh = max(1, math.floor((oy2 - oy1) * s + 0.5))
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        resized = cv2.resize(crop, (nw, nh), interpolation=interp)
        sx, sy = nw / (ox2 - ox1), nh / (oy2 - oy1)
        # 3. the chip's window inside the resized crop, in the crop's own pixels (sx, not s:
        # far from the origin the two drift apart by pixels), then pad to chip_size
        dx = _part_start(bx1, bx2, ox1, W, sx, nw, cw)
        dy = _part_start(by1, by2, oy1, H, sy, nh, ch)
        part = resized[dy:dy + ch, dx:dx + cw]
        out = np.full((chip_size, chip_size) + img.shape[2:], self.pad_val, dtype=img.dtype)
        out[:part.shape[0], :part.shape[1]] = part
        return out, (sx, sy, -ox1 * sx - dx, -oy1 * sy - dy), part.shape[:2]

    def transform(self, results: dict) -> dict:
        H, W = results['img'].shape[:2]
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
        img, (sx, sy, tx, ty), (ph, pw) = self._cut(results['img'], chip, chip_size)

        # boxes overlapping the chip, mapped with exactly the image's affine map
        a = assign_boxes(boxes, chip, ticket.valid_range, chip_size=chip_size,
                         image_size=(W, H))
        keep = a.index
        mapped = boxes[keep] * (sx, sy, sx, sy) + (tx, ty, tx, ty)
        mapped = np.clip(mapped, 0, (pw, ph, pw, ph)).astype(np.float32)

        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['pad_shape'] = img.shape[:2]
        results['scale_factor'] = (sx, sy)
        results['gt_bboxes'] = HorizontalBoxes(mapped.reshape(-1, 4))
        for key in ('gt_bboxes_labels', 'gt_ignore_flags'):
            if key in results:
                results[key] = np.asarray(results[key])[keep]
        m = np.array([[sx, 0, tx], [0, sy, ty], [0, 0, 1]], dtype=np.float32)
        prev = results.get('homography_matrix')
        results['homography_matrix'] = m if prev is None else m @ prev
        results['chip'] = chip.box
        results['chip_level'] = chip.level
        results['chip_scale'] = chip.scale
        results['chip_kind'] = chip.kind
        results['chip_valid_range'] = tuple(ticket.valid_range)
        results['chip_gt_original'] = boxes[keep]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scales={self.scales}, chip_size={self.chip_size}, '
                f'stride={self.stride}, pad_val={self.pad_val})')


@TRANSFORMS.register_module()
class ScaleRangeFilter(BaseTransform):
    """Mark the boxes a chip's level is not responsible for as ignored (never delete them).

    A box kept by :class:`ChipGenerator` stays a training target only when (see
    :func:`mmsniper.chips.assign_boxes`): the chip is positive; its ``sqrt(w*h)`` in
    ORIGINAL pixels lies in the level's valid range (from the ticket, i.e. the same
    ``train_ranges`` the chips were planned with); after clipping to the chip it is at
    least ``min_size`` chip pixels on each side and at least ``min_visible`` of it is
    inside. Everything else gets ``gt_ignore_flags = True``: ``PackDetInputs`` moves it to
    ``ignored_instances`` and the ignore-aware assigners neither reward nor punish
    anchors and proposals on it. Crowd boxes stay ignored.

    Required Keys:

    - gt_bboxes (HorizontalBoxes): CHIP pixels
    - gt_ignore_flags (ndarray[K] bool)
    - chip, chip_level, chip_scale, chip_kind, chip_valid_range, chip_gt_original

    Modified Keys:

    - gt_ignore_flags

    Removed Keys:

    - chip_gt_original

    Args:
        min_size (float): least clipped width and height, chip pixels. Default 10
            (the reference's "drop below 10 px after clipping", here: ignore).
        min_visible (float): least fraction of a box inside the chip to stay valid.
            Default 0.5.
        valid_ranges (list, optional): override the ticket's ranges, one ``(lo, hi)``
            per level (ORIGINAL pixels). Default: the ticket's.
    """

    def __init__(self, min_size: float = 10.0, min_visible: float = 0.5,
                 valid_ranges: Optional[Sequence[Any]] = None) -> None:
        self.min_size = float(min_size)
        self.min_visible = float(min_visible)
        self.valid_ranges = normalize_ranges(valid_ranges) if valid_ranges is not None else None

    def transform(self, results: dict) -> dict:
        missing = [k for k in ('chip', 'chip_level', 'chip_scale', 'chip_gt_original')
                   if k not in results]
        if missing:
            raise KeyError(f'ScaleRangeFilter needs {missing} from ChipGenerator; put '
                           'ChipGenerator before it in the pipeline')
        orig = results.pop('chip_gt_original')
        level = results['chip_level']
        vr = (tuple(self.valid_ranges[level]) if self.valid_ranges is not None
              else results['chip_valid_range'])
        chip = Chip(level, results['chip_scale'], results['chip'], results.get('chip_kind', 'pos'))
        oh, ow = results['ori_shape'][:2] if 'ori_shape' in results else (None, None)
        a = assign_boxes(orig, chip, vr, chip_size=max(results['img_shape']),
                         min_size=self.min_size, min_visible=self.min_visible,
                         image_size=(ow, oh) if ow else None)
        valid = np.zeros(len(orig), dtype=bool)
        valid[a.index] = a.valid
        flags = np.asarray(results.get('gt_ignore_flags', np.zeros(len(orig), bool)), bool)
        results['gt_ignore_flags'] = flags | ~valid
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(min_size={self.min_size}, '
                f'min_visible={self.min_visible}, valid_ranges={self.valid_ranges})')
