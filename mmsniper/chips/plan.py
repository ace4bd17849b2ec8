"""Chip planning: which chips an image (or a whole epoch) trains on, and the tickets for them.

The one planner. ``SniperDataset`` (through ``ChipSampler``), a simple-mode
``ChipGenerator``, ``chip_stats.py`` and the scale advisor's cost model all call
:func:`plan_image` / :func:`plan_epoch`, so they see the same chips for the same seed.

Frames: boxes and proposals in ORIGINAL pixels; chips carry ``Chip.box`` in ORIGINAL
pixels and their level's factor.
"""
from __future__ import annotations

from typing import Iterator, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from .boxtable import BoxTable
from .chip import Chip, window_box
from .cover import candidate_windows, generate_positive_chips
from .negative import generate_negative_chips
from .scales import scale_factors, scaled_image_size
from .settings import SniperSettings


class ChipTicket(NamedTuple):
    """One training sample: one chip of one image, with everything needed to cut it.

    ``ChipSampler`` yields tickets instead of integers; PyTorch's ``DataLoader`` passes
    them to ``dataset[ticket]`` in the (persistent) workers, so the transforms need no
    settings and no per-epoch state of their own.

    Attributes:
        index (int): index of the image in the wrapped dataset (-1: drawn in simple mode).
        chip (Chip): the chip; ``chip.box`` in ORIGINAL pixels, ``chip.level`` indexes the
            training scales, ``chip.kind`` is ``'pos'`` or ``'neg'``.
        valid_range (tuple[float, float]): ``[lo, hi)`` of ``chip.level``, ORIGINAL pixels
            of ``sqrt(w * h)`` (``0``/``inf`` when open).
        chip_size (int): side of the padded chip, scaled pixels.
        min_size (float): least clipped width and height of a trained box, chip pixels.
        min_visible (float): least fraction of a trained box inside the chip.
    """

    index: int
    chip: Chip
    valid_range: Tuple[float, float]
    chip_size: int
    min_size: float = 10.0
    min_visible: float = 0.5


def make_ticket(index: int, chip: Chip, settings: SniperSettings) -> ChipTicket:
    """The ticket of ``chip`` of image ``index`` under ``settings``."""
    lo, hi = settings.train_bounds[chip.level]
    return ChipTicket(int(index), chip, (float(lo), float(hi)), settings.chip_size,
                      settings.min_size, settings.min_visible)


class ImagePlan(NamedTuple):
    """One image's chips for one epoch: positive, then negative (``kind='neg'``)."""

    positive: List[Chip]
    negative: List[Chip]


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    """The generator of an epoch's plan: a pure function of ``(seed, epoch)``."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch)])


def plan_image(boxes: np.ndarray, image_size: Tuple[float, float], settings: SniperSettings,
               rng: Optional[np.random.Generator] = None,
               proposals: Optional[np.ndarray] = None) -> ImagePlan:
    """The chips of one image for one epoch.

    1. Positive chips: per level, a greedy cover of the boxes in its training range
       (:func:`~.cover.generate_positive_chips` with the settings' ``min_size``).
    2. Negative chips, when ``settings.neg_chips_per_img > 0`` and ``proposals`` are
       given: regions dense in proposals outside this epoch's positive chips
       (:func:`~.negative.generate_negative_chips`), of which up to
       ``neg_chips_per_img`` are drawn with ``rng``.

    Args:
        boxes (ndarray[N, 4] float): boxes that drive chips (no crowd), ORIGINAL pixels.
        image_size (tuple[float, float]): ``(w, h)`` of the original image.
        settings (SniperSettings): scales, ranges, chip size, stride, ``min_size``,
            negatives.
        rng (numpy.random.Generator | None): shuffles the candidate windows and draws
            the negatives; None: deterministic positives (and negatives need an rng).
        proposals (ndarray[P, 4] float | None): the image's proposals, ORIGINAL pixels.

    Returns:
        ImagePlan: ``positive`` and ``negative`` chips.
    """
    st = settings
    pos = generate_positive_chips(boxes, image_size, st.scales, st.train_ranges,
                                  chip_size=st.chip_size, stride=st.stride, rng=rng,
                                  min_size=st.min_size)
    neg: List[Chip] = []
    n = st.neg_chips_per_img
    if n > 0 and proposals is not None and len(proposals):
        if rng is None:
            raise ValueError('plan_image: negative chips are drawn at random; pass an rng')
        neg = generate_negative_chips(proposals, image_size, st.scales, st.train_bounds, pos,
                                      chip_size=st.chip_size, stride=st.stride,
                                      min_proposals=st.min_proposals, rng=rng)
        if len(neg) > n:
            pick = np.sort(rng.choice(len(neg), size=n, replace=False))
            neg = [neg[i] for i in pick]
    return ImagePlan(pos, neg)


def plan_epoch(table: BoxTable, settings: SniperSettings, seed: int = 0, epoch: int = 0,
               images: Optional[Sequence[int]] = None,
               proposals: Optional[BoxTable] = None
               ) -> Iterator[Tuple[int, ImagePlan]]:
    """One epoch's plan, image by image: ``(image row, ImagePlan)``.

    One generator, :func:`epoch_rng` ``(seed, epoch)``, is drawn through the images in
    order, so the plan is a pure function of ``(seed, epoch)`` and the annotations:
    every rank computes the same plan and a resumed run sees the chips of the
    uninterrupted one. Given ``images`` (a subset, e.g. the advisor's cost sample), the
    same generator is drawn through those only: an estimate of the full plan's counts.

    Args:
        table (BoxTable): the annotations, with ``image_sizes`` (``ignore``: crowd boxes,
            which never drive chips).
        settings (SniperSettings): the settings.
        seed (int): the run's seed.
        epoch (int): the epoch.
        images (Sequence[int] | None): rows to plan (sorted here); None: every image.
        proposals (BoxTable | None): proposals, matched to ``table``'s images by image
            id (images without any get no negative chips).

    Yields:
        tuple[int, ImagePlan]: the image's row in ``table`` and its chips.
    """
    rng = epoch_rng(seed, epoch)
    rows = range(len(table)) if images is None else np.unique(np.asarray(images)).tolist()
    prop_rows = None
    if proposals is not None and settings.neg_chips_per_img > 0:
        ids = table.image_ids if table.image_ids is not None else np.arange(len(table))
        prop_rows = proposals.rows_of(ids.tolist())
    for i in rows:
        props = None
        if prop_rows is not None and prop_rows[i] >= 0:
            props = proposals.image_boxes(int(prop_rows[i]))
        yield i, plan_image(table.chip_boxes(i), table.image_size(i), settings, rng, props)


def draw_ticket(boxes: np.ndarray, image_size: Tuple[float, float], settings: SniperSettings,
                rng: np.random.Generator, index: int = -1) -> ChipTicket:
    """One chip of one image, drawn at random ("simple mode", no sampler).

    One of the image's positive chips (:func:`plan_image`); an image without any box
    that drives a chip gets a random candidate window of a random level.

    Args:
        boxes (ndarray[N, 4] float): boxes that drive chips, ORIGINAL pixels.
        image_size (tuple[float, float]): ``(w, h)`` of the original image.
        settings (SniperSettings): the settings.
        rng (numpy.random.Generator): the draw.
        index (int): image index written into the ticket.

    Returns:
        ChipTicket: the chip and its settings.
    """
    chips = plan_image(boxes, image_size, settings, rng).positive
    if chips:
        chip = chips[int(rng.integers(len(chips)))]
    else:
        level = int(rng.integers(settings.num_levels))
        s = scale_factors(image_size, settings.scales)[level]
        sw, sh = scaled_image_size(image_size, s)
        wins = candidate_windows(sw, sh, settings.chip_size, settings.stride)
        x1, y1, x2, y2 = wins[int(rng.integers(len(wins)))]
        chip = Chip(level, s, window_box((x1, y1, x2, y2), s, image_size))  # the edge rule
    return make_ticket(index, chip, settings)


def boxes_in_no_chip(boxes: np.ndarray, chips: Sequence[Chip]) -> int:
    """How many of ``boxes`` (ORIGINAL pixels) no chip of ``chips`` holds in full."""
    if len(boxes) == 0:
        return 0
    held = np.zeros(len(boxes), dtype=bool)
    for c in chips:
        x1, y1, x2, y2 = c.box
        eps = 1e-6 / c.scale
        held |= ((boxes[:, 0] >= x1 - eps) & (boxes[:, 1] >= y1 - eps)
                 & (boxes[:, 2] <= x2 + eps) & (boxes[:, 3] <= y2 + eps))
    return int((~held).sum())
