"""``SniperDataset``: wraps any MMDetection detection dataset and serves it as chips.

It owns SNIPER's training settings (scales, valid ranges, chip size, stride, negative
chips) and two jobs:

* in the MAIN process, :meth:`SniperDataset.plan_epoch` turns the annotations (never the
  pixels) into the epoch's chip tickets; :class:`~mmsniper.datasets.ChipSampler` calls it;
* in the data-loader WORKERS, ``dataset[ticket]`` loads the image of ``ticket.index``,
  puts the ticket in ``results['chip']`` and runs the pipeline, where
  :class:`~mmsniper.datasets.ChipGenerator` cuts the chip.

``dataset[int]`` (as MMDetection's default samplers ask) runs the pipeline with no
ticket: ``ChipGenerator`` then plans that image's chips itself and draws one ("simple mode").
"""
from __future__ import annotations

import copy
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmdet.registry import DATASETS
from mmengine.dataset import BaseDataset
from mmengine.utils import ProgressBar

from ..chips import Chip, generate_positive_chips, normalize_ranges, scale_factor
from .annotation_report import InstanceCheck, dataset_audit, log_and_check
from .tickets import ChipTicket

Scale = Union[float, Tuple[float, float]]

#: Planning shows a progress bar from this many images on (COCO: 118k).
_PROGRESS_MIN_IMAGES = 5000


def check_settings(scales: Sequence[Scale], ranges: Sequence[Any], chip_size: int,
                   stride: int, where: str) -> None:
    """Raise a ValueError naming the config key when SNIPER settings do not fit together."""
    if len(scales) == 0:
        raise ValueError(f'{where}.scales: expected at least one scale, got []')
    if len(ranges) != len(scales):
        raise ValueError(f'{where}: expected one valid range per scale, got {len(scales)} '
                         f'scales and {len(ranges)} ranges')
    if not (isinstance(chip_size, int) and chip_size > 0):
        raise ValueError(f'{where}.chip_size: expected a positive int, got {chip_size!r}')
    if not (isinstance(stride, int) and 0 < stride <= chip_size):
        raise ValueError(f'{where}.stride: expected an int in 1..chip_size, got {stride!r}')
    normalize_ranges(ranges)  # raises on malformed ranges


@DATASETS.register_module()
class SniperDataset:
    """Serve a detection dataset as SNIPER chips.

    Args:
        dataset (dict | BaseDataset): the wrapped dataset (for example ``CocoDataset``);
            its ``pipeline`` must start with ``LoadImageFromFile``, ``LoadAnnotations`` and
            ``ChipGenerator``.
        scales (list): one per level, a factor or a ``(short, long)`` resolution
            (``(-1, L)``: longest side L). Reference: ``[(1400, 2000), (800, 1280), (-1, 512)]``.
        train_ranges (list): one ``(lo, hi)`` per level, ORIGINAL pixels of ``sqrt(w*h)``,
            ``-1`` open. Reference: ``[(-1, 80), (32, 150), (120, -1)]``.
        chip_size (int): chip side in scaled pixels. Default 512.
        stride (int): step of the candidate chip grid, scaled pixels. Default 32 (paper).
        single_scale (tuple): the single-scale setting that pixel counts are compared with
            in the training log. Default ``(800, 1333)``.
        neg_chips_per_img (int): negative chips drawn per image per epoch (0: none).
        min_size (float): boxes smaller than this in scaled pixels at a level get no chip
            there (``ScaleRangeFilter`` would ignore them in any chip; keep the two equal).
            Default 10, as ``ScaleRangeFilter``.
        negatives (dict, optional): negative-chip mining settings, see
            :mod:`mmsniper.datasets.negatives`.
        strict_annotations (bool): stop with an error naming them when annotations have
            data errors (non-finite, zero/negative size, outside the image, unknown
            category, ...). Default False: they are left out, counted by kind and reported
            once in the log (:mod:`mmsniper.datasets.annotation_report`).
    """

    def __init__(self,
                 dataset: Union[dict, BaseDataset],
                 scales: Sequence[Scale] = ((1400, 2000), (800, 1280), (-1, 512)),
                 train_ranges: Sequence[Any] = ((-1, 80), (32, 150), (120, -1)),
                 chip_size: int = 512,
                 stride: int = 32,
                 single_scale: Scale = (800, 1333),
                 neg_chips_per_img: int = 0,
                 negatives: Optional[dict] = None,
                 min_size: float = 10.0,
                 strict_annotations: bool = False,
                 lazy_init: bool = False) -> None:
        check_settings(scales, train_ranges, chip_size, stride, 'train_dataloader.dataset')
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        self.scales = [tuple(s) if isinstance(s, (list, tuple)) else float(s) for s in scales]
        self.train_ranges = normalize_ranges(train_ranges)
        self.chip_size = int(chip_size)
        self.stride = int(stride)
        self.single_scale = single_scale
        if neg_chips_per_img < 0:
            raise ValueError('train_dataloader.dataset.neg_chips_per_img: expected >= 0, got '
                             f'{neg_chips_per_img}')
        self.neg_chips_per_img = int(neg_chips_per_img)
        self.min_size = float(min_size)
        self.negatives_cfg = negatives
        self.strict_annotations = bool(strict_annotations)
        self._dropped_instances: Dict[int, np.ndarray] = {}  # image index -> keep mask
        self._negatives = None
        self._fully_initialized = False
        self.last_plan_stats: Dict[str, Any] = {}
        if not lazy_init:
            self.full_init()

    # -- the MMEngine dataset interface -------------------------------------------------
    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(self.dataset.metainfo)

    @property
    def pipeline(self):
        return self.dataset.pipeline

    def full_init(self) -> None:
        """Read the annotations into compact arrays (boxes, offsets, image sizes)."""
        if self._fully_initialized:
            return
        self.dataset.full_init()
        n = len(self.dataset)
        sizes = np.zeros((n, 2), dtype=np.float64)
        counts = np.zeros(n, dtype=np.int64)
        boxes: List[np.ndarray] = []
        crowd: List[np.ndarray] = []
        img_ids: List[Any] = []
        check = InstanceCheck()  # boxes no chip can be planned with are left out
        for i in range(n):
            info = self.dataset.get_data_info(i)
            w, h = info.get('width'), info.get('height')
            if not w or not h:
                raise ValueError(f'image {info.get("img_path")} (img_id {info.get("img_id")}): '
                                 'SNIPER plans chips from annotations and needs the image '
                                 'width and height in the annotation file')
            sizes[i] = (w, h)
            inst = info.get('instances', [])
            b = np.asarray([x['bbox'] for x in inst], dtype=np.float64).reshape(-1, 4)
            keep = check.keep(i, info.get('img_id', i), b, (w, h))
            counts[i] = int(keep.sum())
            boxes.append(b[keep])
            crowd.append(np.asarray([bool(x.get('ignore_flag', 0)) for x in inst],
                                    dtype=bool).reshape(-1)[keep])
            img_ids.append(info.get('img_id', i))
        self._dropped_instances = check.dropped
        # once per build: what the annotation file holds against what is used, by kind
        self.annotation_audit = dataset_audit(self.dataset, img_ids, counts, check)
        log_and_check(self.annotation_audit, self.strict_annotations)
        self._sizes = sizes
        self._offsets = np.concatenate([[0], np.cumsum(counts)])
        self._boxes = np.concatenate(boxes) if boxes else np.zeros((0, 4))
        self._crowd = np.concatenate(crowd) if crowd else np.zeros(0, dtype=bool)
        self._img_ids = img_ids
        if self.neg_chips_per_img > 0:
            from .negatives import NegativeChipSource
            self._negatives = NegativeChipSource.from_config(self.negatives_cfg, self)
        self._fully_initialized = True

    def __len__(self) -> int:
        """Number of IMAGES (the sampler's ``len`` counts chips)."""
        return len(self.dataset)

    def get_data_info(self, idx: int) -> dict:
        return self.dataset.get_data_info(idx)

    def __getitem__(self, item: Union[int, ChipTicket]) -> Any:
        if isinstance(item, ChipTicket):
            info = self.dataset.get_data_info(item.index)
            info['chip'] = item
        else:
            info = self.dataset.get_data_info(int(item))
        keep = self._dropped_instances.get(item.index if isinstance(item, ChipTicket)
                                           else int(item))
        if keep is not None:  # boxes planning left out (see full_init) never reach the chip
            info['instances'] = [x for x, k in zip(info['instances'], keep) if k]
        return self.dataset.pipeline(info)

    # -- planning (main process) --------------------------------------------------------
    def image_annotations(self, idx: int) -> Tuple[np.ndarray, np.ndarray, Tuple[float, float]]:
        """``(boxes, crowd, (w, h))`` of image ``idx``: boxes ``ndarray[N, 4]`` ORIGINAL
        pixels ``(x1, y1, x2, y2)``; crowd ``ndarray[N] bool`` (never drive chips)."""
        a, b = self._offsets[idx], self._offsets[idx + 1]
        w, h = self._sizes[idx]
        return self._boxes[a:b], self._crowd[a:b], (float(w), float(h))

    def ticket(self, idx: int, chip: Chip) -> ChipTicket:
        lo, hi = self.train_ranges[chip.level]
        return ChipTicket(int(idx), chip, (float(lo), float(hi)), self.chip_size)

    def plan_epoch(self, epoch: int, seed: int) -> List[ChipTicket]:
        """All chip tickets of one epoch, image by image (the sampler shuffles them).

        A pure function of ``(seed, epoch)`` and the annotations: every rank computes the
        same plan, and a resumed run sees the chips an uninterrupted run would have seen.
        Cost: annotations only (COCO train2017: see the README's planning benchmark).
        """
        self.full_init()
        t0 = time.perf_counter()
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch)])
        n = len(self)
        tickets: List[ChipTicket] = []
        n_pos = n_neg = uncovered = 0
        single_px = 0.0
        bar = ProgressBar(n) if n >= _PROGRESS_MIN_IMAGES else None
        for i in range(n):
            boxes, crowd, size = self.image_annotations(i)
            chips, negs = self.plan_image(i, rng)
            uncovered += self._count_uncovered(boxes[~crowd], size, chips)
            tickets.extend(self.ticket(i, c) for c in chips)
            tickets.extend(self.ticket(i, c) for c in negs)
            n_pos += len(chips)
            n_neg += len(negs)
            s = scale_factor(size, self.single_scale)
            single_px += (size[0] * s) * (size[1] * s)
            if bar is not None:
                bar.update()
        chip_px = (n_pos + n_neg) * self.chip_size ** 2
        self.last_plan_stats = dict(
            epoch=int(epoch), images=n, pos_chips=n_pos, neg_chips=n_neg,
            chip_pixels=int(chip_px), single_scale_pixels=int(single_px),
            pixel_ratio=float(chip_px / single_px) if single_px else 0.0,
            boxes_valid_nowhere=int(uncovered), seconds=time.perf_counter() - t0)
        return tickets

    def plan_image(self, idx: int, rng: np.random.Generator) -> Tuple[List[Chip], List[Chip]]:
        """``(positive chips, negative chips)`` of image ``idx`` for one epoch.

        1. positive chips cover every non-crowd box at the levels where it is valid;
        2. negative chips (when switched on): up to ``neg_chips_per_img`` regions dense in
           proposals and outside this epoch's positive chips.
        """
        boxes, crowd, size = self.image_annotations(idx)
        chips = generate_positive_chips(boxes[~crowd], size, self.scales, self.train_ranges,
                                        chip_size=self.chip_size, stride=self.stride, rng=rng,
                                        min_size=self.min_size)
        negs: List[Chip] = []
        if self._negatives is not None:
            negs = self._negatives.sample(idx, chips, self.neg_chips_per_img, rng)
        return chips, negs

    def _count_uncovered(self, boxes: np.ndarray, size: Tuple[float, float],
                         chips: List[Chip]) -> int:
        """Boxes no level's chip holds in full (valid nowhere: reported, never dropped)."""
        if len(boxes) == 0:
            return 0
        held = np.zeros(len(boxes), dtype=bool)
        for c in chips:
            x1, y1, x2, y2 = c.box
            eps = 1e-6 / c.scale
            held |= ((boxes[:, 0] >= x1 - eps) & (boxes[:, 1] >= y1 - eps)
                     & (boxes[:, 2] <= x2 + eps) & (boxes[:, 3] <= y2 + eps))
        return int((~held).sum())
