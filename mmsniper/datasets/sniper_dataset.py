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

A pipeline that returns None for an image (a loader told to skip unreadable files,
``LoadChipWindow(skip_bad=True)``, or mmcv's ``LoadImageFromFile(ignore_empty=True)`` for
missing ones) gets a chip of another image in its place, as mmengine's ``BaseDataset``
refetches; every such image is logged with a running count (per data-loader worker).
"""
from __future__ import annotations

import copy
import logging
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmdet.registry import DATASETS
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log
from mmengine.utils import ProgressBar

from ..chips import (
    BoxTable,
    Chip,
    ImagePlan,
    SniperSettings,
    boxes_in_no_chip,
    draw_ticket,
    epoch_rng,
    make_ticket,
    plan_epoch,
    plan_image,
    scale_factor,
)
from .annotation_report import InstanceCheck, dataset_audit, log_and_check
from .tickets import ChipTicket

Scale = Union[float, Tuple[float, float]]

#: Planning shows a progress bar from this many images on (COCO: 118k).
_PROGRESS_MIN_IMAGES = 5000


@DATASETS.register_module()
class SniperDataset:
    """Serve a detection dataset as SNIPER chips.

    The training settings are those of :class:`~mmsniper.chips.SniperSettings` under the
    same names; a config sets them once, in its ``sniper`` block, and
    :class:`~mmsniper.engine.SniperRunner` gives them to this dataset (an argument given
    here too must agree). Arguments left None take the settings' defaults (the paper's
    COCO values). Each chip's ticket carries the values the transforms need.

    Args:
        dataset (dict | BaseDataset): the wrapped dataset (for example ``CocoDataset``, or
            a ``ConcatDataset`` of such, as PASCAL VOC 2007 + 2012); its ``pipeline`` (each
            part's) must start with ``LoadImageFromFile``, ``LoadAnnotations`` and
            ``ChipGenerator``.
        scales, train_ranges, chip_size, stride, min_size, min_visible,
        neg_chips_per_img, proposals, neg_min_proposals: see
            :class:`~mmsniper.chips.SniperSettings`.
        single_scale (tuple): the single-scale setting that pixel counts are compared with
            in the training log. Default ``(800, 1333)``.
        strict_annotations (bool): stop with an error naming them when annotations have
            data errors (non-finite, zero/negative size, outside the image, unknown
            category, ...). Default False: they are left out, counted by kind and reported
            once in the log (:mod:`mmsniper.datasets.annotation_report`).
        lazy_init (bool): read the annotations at the first use, not now.
    """

    def __init__(self,
                 dataset: Union[dict, BaseDataset],
                 scales: Optional[Sequence[Scale]] = None,
                 train_ranges: Optional[Sequence[Any]] = None,
                 chip_size: Optional[int] = None,
                 stride: Optional[int] = None,
                 min_size: Optional[float] = None,
                 min_visible: Optional[float] = None,
                 neg_chips_per_img: Optional[int] = None,
                 proposals: Optional[str] = None,
                 neg_min_proposals: Union[None, int, Sequence[int]] = None,
                 single_scale: Scale = (800, 1333),
                 strict_annotations: bool = False,
                 lazy_init: bool = False) -> None:
        given = dict(scales=scales, train_ranges=train_ranges, chip_size=chip_size,
                     stride=stride, min_size=min_size, min_visible=min_visible,
                     neg_chips_per_img=neg_chips_per_img, proposals=proposals,
                     neg_min_proposals=neg_min_proposals)
        self.settings = SniperSettings.from_dict(
            {k: v for k, v in given.items() if v is not None}, where='train_dataloader.dataset')
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        self.single_scale = single_scale
        self.strict_annotations = bool(strict_annotations)
        self._dropped_instances: Dict[int, np.ndarray] = {}  # image index -> keep mask
        self._negatives = None
        self._fully_initialized = False
        self.last_plan_stats: Dict[str, Any] = {}
        #: Indices of images the pipeline skipped in this process (see ``__getitem__``).
        self.skipped_images: set = set()
        if not lazy_init:
            self.full_init()

    # -- the settings, by their names ------------------------------------------------------
    @property
    def scales(self) -> tuple:
        return self.settings.scales

    @property
    def train_ranges(self) -> np.ndarray:
        """ndarray[L, 2]: the training ranges with open ends ``0``/``inf``."""
        return self.settings.train_bounds

    @property
    def chip_size(self) -> int:
        return self.settings.chip_size

    # -- the MMEngine dataset interface -------------------------------------------------
    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(self.dataset.metainfo)

    @property
    def pipeline(self):
        """The wrapped dataset's pipeline (a ``ConcatDataset``'s: its first part's)."""
        return self._pipeline_of(0)

    def _pipeline_of(self, idx: int):
        """The pipeline image ``idx`` goes through: the wrapped dataset's, or for a
        ``ConcatDataset`` (e.g. PASCAL VOC 2007 + 2012) the pipeline of its part."""
        ds = self.dataset
        if hasattr(ds, 'pipeline') or not hasattr(ds, 'datasets'):
            return ds.pipeline
        part, _ = ds._get_ori_dataset_idx(idx)
        return ds.datasets[part].pipeline

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
        for i in range(n):
            info = self.dataset.get_data_info(i)
            w, h = info.get('width'), info.get('height')
            if not w or not h:
                raise ValueError(f'image {info.get("img_path")} (img_id {info.get("img_id")}): '
                                 'SNIPER plans chips from annotations and needs the image '
                                 'width and height in the annotation file')
            sizes[i] = (w, h)
            inst = info.get('instances', [])
            counts[i] = len(inst)
            boxes.append(np.asarray([x['bbox'] for x in inst], dtype=np.float64).reshape(-1, 4))
            crowd.append(np.asarray([bool(x.get('ignore_flag', 0)) for x in inst], dtype=bool))
            img_ids.append(info.get('img_id', i))
        # boxes no chip can be planned with (e.g. an inf width CocoDataset keeps) are left
        # out here and in __getitem__; one vectorised pass
        check = InstanceCheck.run(boxes, sizes, img_ids)
        for i, keep in check.dropped.items():
            boxes[i], crowd[i], counts[i] = boxes[i][keep], crowd[i][keep], int(keep.sum())
        self._dropped_instances = check.dropped
        # once per build: what the annotation file holds against what is used, by kind
        self.annotation_audit = dataset_audit(self.dataset, img_ids, counts, check)
        log_and_check(self.annotation_audit, self.strict_annotations)
        try:  # proposals are matched to images by id
            ids: Optional[np.ndarray] = np.asarray([int(i) for i in img_ids], np.int64)
        except (TypeError, ValueError):
            ids = None
        self.boxes = BoxTable(np.concatenate(boxes) if boxes else np.zeros((0, 4)),
                              np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
                              image_ids=ids, image_sizes=sizes,
                              ignore=np.concatenate(crowd) if crowd else np.zeros(0, bool),
                              source='train_dataloader.dataset')
        self._img_ids = img_ids
        if self.settings.neg_chips_per_img > 0:
            from .negatives import NegativeChipSource
            self._negatives = NegativeChipSource.from_settings(self.settings, self)
        self._fully_initialized = True

    def __len__(self) -> int:
        """Number of IMAGES (the sampler's ``len`` counts chips)."""
        return len(self.dataset)

    def get_data_info(self, idx: int) -> dict:
        return self.dataset.get_data_info(idx)

    #: Images in a row a skipped image may be replaced by before the run stops.
    max_refetch = 20

    def __getitem__(self, item: Union[int, ChipTicket]) -> Any:
        data = self._load(item)
        if data is not None:
            return data
        # 1. the pipeline skipped this image's file: count it, say which;
        # 2. serve a chip drawn from another image (simple mode's draw), and so on.
        idx = item.index if isinstance(item, ChipTicket) else int(item)
        rng = np.random.default_rng([idx, len(self.skipped_images)])
        for _ in range(self.max_refetch):
            self._note_skipped(idx)
            idx = int(rng.integers(len(self)))
            boxes, crowd, size = self.image_annotations(idx)
            data = self._load(draw_ticket(boxes[~crowd], size, self.settings, rng, idx))
            if data is not None:
                return data
        self._note_skipped(idx)
        raise RuntimeError(f'SniperDataset: {self.max_refetch + 1} images in a row were '
                           f'skipped by the pipeline (unreadable files?), the last '
                           f'{self._describe(idx)}; check the data set with '
                           'tools/analysis_tools/check_dataset.py')

    def _describe(self, idx: int) -> str:
        info = self.dataset.get_data_info(idx)
        return f'{info.get("img_path")} (img_id {info.get("img_id")})'

    def _note_skipped(self, idx: int) -> None:
        """Count a skipped image (this process's count) and log it."""
        self.skipped_images.add(idx)
        print_log(f'SniperDataset: {self._describe(idx)} was skipped by the pipeline; a '
                  f'chip of another image takes its place ({len(self.skipped_images)} '
                  'image(s) skipped so far in this process)', logger='current',
                  level=logging.WARNING)

    def _load(self, item: Union[int, ChipTicket]) -> Any:
        if isinstance(item, ChipTicket):
            info = self.dataset.get_data_info(item.index)
            info['chip'] = item
        else:
            info = self.dataset.get_data_info(int(item))
        idx = item.index if isinstance(item, ChipTicket) else int(item)
        keep = self._dropped_instances.get(idx)
        if keep is not None:  # boxes planning left out (see full_init) never reach the chip
            info['instances'] = [x for x, k in zip(info['instances'], keep) if k]
        return self._pipeline_of(idx)(info)

    # -- planning (main process) --------------------------------------------------------
    def image_annotations(self, idx: int) -> Tuple[np.ndarray, np.ndarray, Tuple[float, float]]:
        """``(boxes, crowd, (w, h))`` of image ``idx``: boxes ``ndarray[N, 4]`` ORIGINAL
        pixels ``(x1, y1, x2, y2)``; crowd ``ndarray[N] bool`` (never drive chips)."""
        a, b = self.boxes.offsets[idx], self.boxes.offsets[idx + 1]
        return self.boxes.boxes[a:b], self.boxes.ignore[a:b], self.boxes.image_size(idx)

    def ticket(self, idx: int, chip: Chip) -> ChipTicket:
        return make_ticket(idx, chip, self.settings)

    def _proposals(self) -> Optional[BoxTable]:
        return self._negatives.proposals if self._negatives is not None else None

    def plan_epoch(self, epoch: int, seed: int) -> List[ChipTicket]:
        """All chip tickets of one epoch, image by image (the sampler shuffles them).

        :func:`mmsniper.chips.plan_epoch` over the annotations: a pure function of
        ``(seed, epoch)``, so every rank computes the same plan, and a resumed run sees
        the chips an uninterrupted run would have seen. Cost: annotations only (COCO
        train2017: see the README's planning benchmark).
        """
        self.full_init()
        t0 = time.perf_counter()
        n = len(self)
        tickets: List[ChipTicket] = []
        n_pos = n_neg = uncovered = 0
        single_px = 0.0
        bar = ProgressBar(n) if n >= _PROGRESS_MIN_IMAGES else None
        for i, plan in plan_epoch(self.boxes, self.settings, seed, epoch,
                                  proposals=self._proposals()):
            size = self.boxes.image_size(i)
            uncovered += boxes_in_no_chip(self.boxes.chip_boxes(i), plan.positive)
            tickets.extend(self.ticket(i, c) for c in plan.positive)
            tickets.extend(self.ticket(i, c) for c in plan.negative)
            n_pos += len(plan.positive)
            n_neg += len(plan.negative)
            s = scale_factor(size, self.single_scale)
            single_px += (size[0] * s) * (size[1] * s)
            if bar is not None:
                bar.update()
        chip_px = (n_pos + n_neg) * self.settings.chip_size ** 2
        self.last_plan_stats = dict(
            epoch=int(epoch), images=n, pos_chips=n_pos, neg_chips=n_neg,
            chip_pixels=int(chip_px), single_scale_pixels=int(single_px),
            pixel_ratio=float(chip_px / single_px) if single_px else 0.0,
            boxes_valid_nowhere=int(uncovered), seconds=time.perf_counter() - t0)
        return tickets

    def plan_image(self, idx: int, rng: np.random.Generator) -> ImagePlan:
        """``(positive chips, negative chips)`` of image ``idx`` drawn with ``rng``
        (:func:`mmsniper.chips.plan_image`; the pictures of ``browse_chips.py``)."""
        self.full_init()
        props = None
        src = self._proposals()
        if src is not None:
            row = src.row_of(self._img_ids[idx])
            props = src.image_boxes(row) if row is not None else None
        return plan_image(self.boxes.chip_boxes(idx), self.boxes.image_size(idx),
                          self.settings, rng, props)

    @staticmethod
    def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
        """The generator :meth:`plan_epoch` draws an epoch with."""
        return epoch_rng(seed, epoch)
