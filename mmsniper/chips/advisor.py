"""Scale advisor: SNIPER scales, valid ranges and chip settings from a data set's boxes.

Reads a COCO-format annotation file (the ``json`` module, no pycocotools, no pixels),
proposes a complete SNIPER setting -- scales, training and test valid ranges, chip size
and stride -- such that the objects fall in the detector's comfortable size band
(``band``, scaled pixels of ``sqrt(w * h)``) at one level at least, at the least pixel
cost of positive chips, and reports coverage and cost of the proposal next to the COCO
defaults. See ``docs/advisor.md`` for the algorithm and its choices.

Frames: "original" sizes are pixels of the image file, as annotated; "scaled" sizes
are original x the level's factor ``s`` (what the network sees). Valid ranges are
always ``sqrt(w * h)`` in original pixels. Sizes "at the reference resolution" are
original sizes times the image's factor for the reference scale (1 for images of the
reference size; see :func:`reference_factors`).

NumPy only; pixel costs go through :func:`generate_positive_chips` itself. matplotlib
is imported only by :func:`plot_size_histogram`.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..annotations import AnnotationAudit, classify_boxes
from .cover import generate_positive_chips
from .scales import Scale, normalize_ranges

#: ``progress(done, total)``, called now and then by long loops.
Progress = Callable[[int, int], None] | None

#: ``SniperDataset.min_size``: boxes below it (scaled pixels) at a level get no chip there.
MIN_SIZE = 10.0
#: Fewest images the cost sample keeps even when images are large and crowded.
MIN_SAMPLE = 20
#: Engine work (candidate windows x boxes, summed over the sample) that stops adding
#: images to the cost sample: about ten seconds of :func:`generate_positive_chips`
#: (measured: 1e8 to 3e8 per second on one core for 4000x4000 images at 1.5x-6x).
SAMPLE_WORK = 1.5e9
#: The search ranks candidates on a smaller sample: at most this many images, and a
#: tenth of the work.
SEARCH_SAMPLE = 100


# --------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SniperSetting:
    """A SNIPER setting, as in a config's ``sniper = dict(...)`` block.

    Args:
        scales (tuple): one training scale per level, finest first: a factor or a
            ``(short, long)`` resolution (see :func:`scale_factor`).
        train_ranges (tuple): one ``(lo, hi)`` per level, ``sqrt(w * h)`` in original
            pixels, ``-1`` for an open end; ``lo <= size < hi``.
        chip_size (int): side of a chip, scaled pixels.
        stride (int): step of the candidate chip grid, scaled pixels.
        test_scales (tuple): the test pyramid, one scale per level.
        test_ranges (tuple): detections each test level keeps, ``lo < size <= hi``.
    """

    scales: tuple
    train_ranges: tuple
    chip_size: int
    stride: int
    test_scales: tuple
    test_ranges: tuple

    def __post_init__(self) -> None:
        n = len(self.scales)
        if n == 0:
            raise ValueError('SniperSetting.scales: expected at least one scale, got none')
        for name in ('train_ranges', 'test_scales', 'test_ranges'):
            if len(getattr(self, name)) != n:
                raise ValueError(f'SniperSetting.{name}: expected {n} entries (one per scale), '
                                 f'got {len(getattr(self, name))}')
        normalize_ranges(self.train_ranges)
        normalize_ranges(self.test_ranges)

    def as_dict(self) -> dict:
        """The ``sniper`` block: plain lists of tuples and numbers."""
        return dict(scales=list(self.scales), train_ranges=list(self.train_ranges),
                    chip_size=self.chip_size, stride=self.stride,
                    test_scales=list(self.test_scales), test_ranges=list(self.test_ranges))


#: The paper's COCO setting (configs/_base_/sniper_settings.py).
COCO_DEFAULTS = SniperSetting(
    scales=((1400, 2000), (800, 1280), (-1, 512)),
    train_ranges=((-1, 80), (32, 150), (120, -1)),
    chip_size=512, stride=32,
    test_scales=((1400, 2000), (800, 1280), (480, 512)),
    test_ranges=((-1, 90), (32, 180), (75, -1)))


# --------------------------------------------------------------------------------------
# Annotations
# --------------------------------------------------------------------------------------
@dataclass(eq=False)
class BoxSet:
    """The boxes of a COCO-format annotation file, as arrays, images in file order.

    Only the boxes that drive positive chips in training are kept: the shared annotation
    policy (:mod:`mmsniper.annotations`) leaves out what MMDetection's ``CocoDataset``
    drops (no overlap with the image, ``area <= 0``, width or height below 1 pixel, an
    unknown category, non-finite coordinates, ``ignore``) and crowd boxes, which never drive
    a chip. Those are counted in ``audit`` instead, as training counts them.

    Attributes:
        source (str): where the annotations came from (the file name).
        image_ids (ndarray[I] int64): COCO image ids, file order.
        image_sizes (ndarray[I, 2] float64): ``(w, h)`` of each image, original pixels.
        boxes (ndarray[N, 4] float64): ``(x1, y1, x2, y2)`` original pixels, grouped by
            image in file order.
        offsets (ndarray[I + 1] int64): boxes of image ``i`` are
            ``boxes[offsets[i]:offsets[i + 1]]``.
        audit (AnnotationAudit): annotations (and images) not used, by kind, with the
            first ids; ``audit.report()`` is the line training logs.
    """

    source: str
    image_ids: np.ndarray
    image_sizes: np.ndarray
    boxes: np.ndarray
    offsets: np.ndarray
    audit: AnnotationAudit = field(default_factory=AnnotationAudit)

    @property
    def skipped(self) -> dict:
        """``{kind: count}`` of what is not used (kinds of :mod:`mmsniper.annotations`)."""
        return dict(self.audit.counts)

    @property
    def examples(self) -> dict:
        """``{kind: first ids}``."""
        return {k: list(v) for k, v in self.audit.ids.items()}

    @property
    def num_images(self) -> int:
        return len(self.image_ids)

    @property
    def box_image(self) -> np.ndarray:
        """``ndarray[N] int64``: index (into the images) of each box's image."""
        return np.repeat(np.arange(self.num_images), np.diff(self.offsets))

    def image_boxes(self, i: int) -> np.ndarray:
        """``ndarray[n, 4] float64`` boxes of image ``i`` (original pixels)."""
        return self.boxes[self.offsets[i]:self.offsets[i + 1]]

    def sizes(self) -> np.ndarray:
        """``ndarray[N] float64``: ``sqrt(w * h)`` of every box, original pixels."""
        b = self.boxes
        return np.sqrt(np.maximum(b[:, 2] - b[:, 0], 0) * np.maximum(b[:, 3] - b[:, 1], 0))


def _err(source: str, msg: str) -> ValueError:
    return ValueError(f'{source}: {msg}')


def load_coco_boxes(path: str, skip_unknown_images: bool = False) -> BoxSet:
    """Read a COCO-format annotation file into a :class:`BoxSet`.

    Args:
        path (str): the JSON file (``images``, ``annotations``, optional ``categories``).
        skip_unknown_images (bool): count and skip annotations whose ``image_id`` names
            no image; by default they raise (the file is probably a bad merge).

    Returns:
        BoxSet: the training boxes, images in file order.

    Raises:
        ValueError: naming the problem: missing or empty file, broken JSON, missing
            keys (``images``, ``annotations``, ``bbox``, ``width``/``height``, ...),
            unknown image ids, no usable box at all.
    """
    if not os.path.isfile(path):
        raise ValueError(f'{path}: no such annotation file')
    if os.path.getsize(path) == 0:
        raise _err(path, 'the file is empty (0 bytes); expected COCO-format JSON with '
                         '"images" and "annotations"')
    with open(path, 'rb') as f:
        raw = f.read()
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise _err(path, f'not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}'
                   ) from None
    except UnicodeDecodeError as e:
        raise _err(path, f'not valid JSON text: {e}') from None
    return parse_coco(data, source=path, skip_unknown_images=skip_unknown_images)


def _column(items: list, key: str, where: str, source: str) -> list:
    try:
        return [it[key] for it in items]
    except KeyError:
        i = next(i for i, it in enumerate(items) if key not in it)
        ident = items[i].get('id', '?')
        raise _err(source, f'{where}[{i}] (id {ident}) has no "{key}"') from None
    except TypeError:
        i = next(i for i, it in enumerate(items) if not isinstance(it, dict))
        raise _err(source, f'{where}[{i}]: expected an object, got {items[i]!r}') from None


def _numeric(values: list, shape: tuple, what: str, source: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.shape[1:] != shape[1:] or arr.ndim != len(shape):
        for i, v in enumerate(values):
            try:
                ok = np.asarray(v, dtype=np.float64).shape == shape[1:]
            except (TypeError, ValueError):
                ok = False
            if not ok:
                expected = '4 numbers' if shape[1:] else 'a number'
                raise _err(source, f'{what}[{i}]: expected {expected}, got {v!r}')
        raise _err(source, f'{what}: expected numbers')  # pragma: no cover
    return arr


def parse_coco(data: Any, source: str = 'annotations',
               skip_unknown_images: bool = False) -> BoxSet:
    """:func:`load_coco_boxes` on an already decoded COCO dict (same checks)."""
    if not isinstance(data, dict):
        raise _err(source, f'expected a JSON object with "images" and "annotations", got '
                           f'{type(data).__name__}')
    for key in ('images', 'annotations'):
        if key not in data:
            raise _err(source, f'missing key "{key}" (keys present: {sorted(data)[:8]})')
        if not isinstance(data[key], list):
            raise _err(source, f'"{key}": expected a list, got {type(data[key]).__name__}')
    images, anns = data['images'], data['annotations']
    if not images:
        raise _err(source, '"images" is empty: nothing to advise on')
    # Images: ids, sizes.
    img_ids = np.asarray(_column(images, 'id', 'images', source), dtype=object)
    widths = _numeric(_column(images, 'width', 'images', source), (0,), 'images.width', source)
    heights = _numeric(_column(images, 'height', 'images', source), (0,), 'images.height', source)
    ok_img = np.isfinite(widths) & np.isfinite(heights) & (widths > 0) & (heights > 0)
    try:
        id_arr = np.asarray(img_ids.tolist(), dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise _err(source, 'images.id: expected integers') from None
    if len(np.unique(id_arr)) != len(id_arr):
        u, c = np.unique(id_arr, return_counts=True)
        raise _err(source, f'images: duplicate image ids, e.g. {u[c > 1][:5].tolist()}')

    # Annotations: image, bbox, area, iscrowd, ignore, category.
    n_ann = len(anns)
    audit = AnnotationAudit(source, total_boxes=n_ann, total_images=len(images))
    audit.add('image_size', img_ids[~ok_img][:audit.max_ids], count=int((~ok_img).sum()))
    ann_img = _column(anns, 'image_id', 'annotations', source)
    bbox = _numeric(_column(anns, 'bbox', 'annotations', source), (0, 4), 'annotations.bbox',
                    source) if n_ann else np.zeros((0, 4))
    try:
        ann_img = np.asarray(ann_img, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise _err(source, 'annotations.image_id: expected integers') from None
    ann_ids = [a.get('id', i) for i, a in enumerate(anns)]
    area = _numeric([a.get('area', 1.0) for a in anns], (0,), 'annotations.area', source)

    order = np.argsort(id_arr, kind='stable')
    pos = np.searchsorted(id_arr[order], ann_img)
    pos = np.minimum(pos, len(id_arr) - 1)
    known = id_arr[order][pos] == ann_img
    if not known.all() and not skip_unknown_images:
        bad = np.unique(ann_img[~known])
        raise _err(source, f'{int((~known).sum())} annotations refer to image ids that are '
                           f'not in "images" (e.g. {bad[:5].tolist()}); fix the file or '
                           'pass --skip-unknown-images')
    img_index = np.where(known, order[pos], -1)
    wh = np.stack([widths, heights], axis=1)[np.maximum(img_index, 0)]
    cats_known = None
    if 'categories' in data and isinstance(data['categories'], list) and n_ann:
        cat_ids = {c.get('id') for c in data['categories'] if isinstance(c, dict)}
        cats_known = np.asarray([a.get('category_id') in cat_ids for a in anns], dtype=bool)
    # The shared policy (mmsniper.annotations): what MMDetection's CocoDataset drops, and
    # crowd boxes, which never drive a chip.
    codes = classify_boxes(
        bbox, wh, image_known=known, area=area, category_known=cats_known,
        ignore=np.asarray([bool(a.get('ignore', False)) for a in anns], dtype=bool),
        crowd=np.asarray([bool(a.get('iscrowd', 0)) for a in anns], dtype=bool))
    audit.add_codes(codes, ann_ids, ann_img)
    keep = codes == 0
    x, y, w, h = (bbox[:, k] for k in range(4))

    # Keep the usable images (file order) and their boxes grouped by image.
    new_index = np.cumsum(ok_img) - 1
    sel = np.flatnonzero(keep)
    box_img = new_index[img_index[sel]]
    grp = np.argsort(box_img, kind='stable')
    sel, box_img = sel[grp], box_img[grp]
    boxes = np.stack([x[sel], y[sel], x[sel] + w[sel], y[sel] + h[sel]], axis=1)
    n_img = int(ok_img.sum())
    if n_img == 0:
        raise _err(source, 'no image has a positive width and height')
    counts = np.bincount(box_img, minlength=n_img)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    if len(boxes) == 0:
        why = ('"annotations" is empty' if n_ann == 0 else
               f'none of the {n_ann} annotations is usable ({audit.report()})')
        raise _err(source, f'{why}: no boxes to base scales on')
    return BoxSet(source=source, image_ids=id_arr[ok_img],
                  image_sizes=np.stack([widths[ok_img], heights[ok_img]], axis=1),
                  boxes=boxes.reshape(-1, 4), offsets=offsets, audit=audit)


# --------------------------------------------------------------------------------------
# Scale factors and coverage (vectorised over images and boxes)
# --------------------------------------------------------------------------------------
def level_factors(image_sizes: np.ndarray, scale: Scale) -> np.ndarray:
    """Factor ``s`` of one scale for every image, as :func:`scale_factor` computes it.

    Args:
        image_sizes (ndarray[I, 2] float): ``(w, h)`` original pixels.
        scale (float | tuple[float, float]): a factor or a ``(short, long)`` resolution.

    Returns:
        ndarray[I] float64: the factors (bit-identical to :func:`scale_factor`).
    """
    wh = np.asarray(image_sizes, dtype=np.float64).reshape(-1, 2)
    if isinstance(scale, (int, float, np.integer, np.floating)) and not isinstance(scale, bool):
        return np.full(len(wh), float(scale))
    short, long = (float(v) for v in scale)
    lo, hi = wh.min(axis=1), wh.max(axis=1)
    if short == -1:
        return long / hi
    s = short / lo
    if long != -1:
        s = np.where(s * hi > long, long / hi, s)
    return s


def _scaled_len(length: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``max(1, int(length * s + 0.5))``, vectorised (see :func:`scaled_image_size`)."""
    return np.maximum(1.0, np.floor(length * s + 0.5))


def _takes_part(boxes: np.ndarray, wh: np.ndarray, s: np.ndarray, chip_size: int,
                stride: int, min_size: float) -> np.ndarray:
    """Step 1 (b)-(c) of :func:`generate_positive_chips` per box (range test excluded).

    ``boxes`` ``[N, 4]`` original pixels, ``wh`` ``[N, 2]`` their image's size, ``s``
    ``[N]`` their image's factor. True where the clipped, scaled box has positive size,
    at least ``min_size`` per side, and fits a chip along every axis where the scaled
    image is longer than the chip.
    """
    w, h = wh[:, 0], wh[:, 1]
    sw, sh = _scaled_len(w, s), _scaled_len(h, s)
    x1 = np.minimum(np.clip(boxes[:, 0], 0, w) * s, sw)
    x2 = np.minimum(np.clip(boxes[:, 2], 0, w) * s, sw)
    y1 = np.minimum(np.clip(boxes[:, 1], 0, h) * s, sh)
    y2 = np.minimum(np.clip(boxes[:, 3], 0, h) * s, sh)
    bw, bh = x2 - x1, y2 - y1
    fit = chip_size - stride - 1
    return ((bw > 0) & (bh > 0) & (bw >= min_size) & (bh >= min_size)
            & ((sw <= chip_size) | (bw < fit)) & ((sh <= chip_size) | (bh < fit)))


@dataclass
class Coverage:
    """Which objects each level trains and sees in the band (all objects, no sample).

    Attributes:
        factors (ndarray[L, N] float64): the level's factor for each object's image.
        trained (ndarray[L, N] bool): in the level's training range and taking part in
            its chip cover (at least ``min_size`` per side, fits a chip).
        in_band (ndarray[L, N] bool): ``trained`` and ``band[0] <= size * s <= band[1]``.
        too_small (ndarray[N] bool): in the band nowhere, below it at the finest level.
        too_large (ndarray[N] bool): in the band nowhere, above it at the coarsest level.
        in_gap (ndarray[N] bool): in the band at some level, but no level that has it in
            the band trains it (outside that level's range, or too long for a chip).
    """

    factors: np.ndarray
    trained: np.ndarray
    in_band: np.ndarray
    too_small: np.ndarray
    too_large: np.ndarray
    in_gap: np.ndarray

    @property
    def covered(self) -> np.ndarray:
        """``ndarray[N] bool``: in the band at one level at least."""
        return self.in_band.any(axis=0)


def coverage(boxset: BoxSet, setting: SniperSetting, band: tuple[float, float],
             min_size: float = MIN_SIZE) -> Coverage:
    """Coverage of every object of ``boxset`` by the training levels of ``setting``.

    Args:
        boxset (BoxSet): the annotations.
        setting (SniperSetting): scales, training ranges, chip size and stride.
        band (tuple[float, float]): comfortable ``sqrt(w * h)`` in SCALED pixels.
        min_size (float): ``SniperDataset.min_size``: boxes below it per side (scaled
            pixels) get no chip at a level, so that level does not train them.

    Returns:
        Coverage: per-level and per-object masks (see :class:`Coverage`).
    """
    lo_b, hi_b = band
    z = boxset.sizes()
    img = boxset.box_image
    wh = boxset.image_sizes[img]
    ranges = normalize_ranges(setting.train_ranges)
    n_lv = len(setting.scales)
    factors = np.empty((n_lv, len(z)))
    trained = np.empty((n_lv, len(z)), dtype=bool)
    for k, scale in enumerate(setting.scales):
        s = level_factors(boxset.image_sizes, scale)[img]
        factors[k] = s
        trained[k] = ((z >= ranges[k, 0]) & (z < ranges[k, 1])
                      & _takes_part(boxset.boxes, wh, s, setting.chip_size, setting.stride,
                                    min_size))
    scaled = z * factors
    band_any = (scaled >= lo_b) & (scaled <= hi_b)
    in_band = trained & band_any
    covered = in_band.any(axis=0)
    too_small = ~covered & (scaled.max(axis=0) < lo_b)
    too_large = ~covered & (scaled.min(axis=0) > hi_b)
    in_gap = ~covered & ~too_small & ~too_large
    return Coverage(factors, trained, in_band, too_small, too_large, in_gap)


# --------------------------------------------------------------------------------------
# Pixel cost through the chip engine
# --------------------------------------------------------------------------------------
@dataclass
class ChipCost:
    """Positive chips of a setting, counted by :func:`generate_positive_chips`.

    Attributes:
        images (ndarray[S] int64): indices of the images counted (ascending).
        chips (ndarray[S, L] int64): positive chips per image and level.
        chip_size (int): side of a chip.
        total_images (int): images in the data set (``S < total_images``: a sample).
    """

    images: np.ndarray
    chips: np.ndarray
    chip_size: int
    total_images: int

    @property
    def sampled(self) -> bool:
        return len(self.images) < self.total_images

    @property
    def chips_per_image(self) -> float:
        return float(self.chips.sum() / max(len(self.images), 1))

    @property
    def level_chips_per_image(self) -> np.ndarray:
        """``ndarray[L] float64``: mean chips per image at each level."""
        return self.chips.sum(axis=0) / max(len(self.images), 1)

    @property
    def pixels_per_image(self) -> float:
        """Padded pixels of positive chips per image (``chips x chip_size ** 2``)."""
        return self.chips_per_image * self.chip_size ** 2


def predict_chip_cost(boxset: BoxSet, setting: SniperSetting,
                      images: np.ndarray | None = None, seed: int = 0,
                      progress: Progress = None, min_size: float = MIN_SIZE) -> ChipCost:
    """Positive chips per image, computed by the chip engine on the data set's boxes.

    Exactly what ``tools/analysis_tools/chip_stats.py`` (``compute_chip_stats``) and
    ``SniperDataset.plan_epoch`` at epoch 0 with ``seed`` do: for each image in order,
    ``generate_positive_chips(boxes, (w, h), scales, train_ranges, chip_size, stride,
    rng, min_size)`` with one
    ``rng = numpy.random.default_rng([seed, 0])`` drawn through the images in turn.
    Given all images, the count is that computation's; given a sample, it estimates it.

    Args:
        boxset (BoxSet): the annotations.
        setting (SniperSetting): scales, training ranges, chip size, stride.
        images (ndarray[S] int | None): indices of the images to count (sorted here);
            None counts every image.
        seed (int): seed of the candidate shuffle.
        progress (callable | None): ``progress(done, total)`` every 256 images.
        min_size (float): ``SniperDataset.min_size`` (default 10, as there).

    Returns:
        ChipCost: chips per image and level.
    """
    idx = np.arange(boxset.num_images) if images is None else np.unique(np.asarray(images))
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0])
    chips = np.zeros((len(idx), len(setting.scales)), dtype=np.int64)
    scales, ranges = list(setting.scales), list(setting.train_ranges)
    for j, i in enumerate(idx):
        w, h = boxset.image_sizes[i]
        for c in generate_positive_chips(boxset.image_boxes(i), (float(w), float(h)), scales,
                                         ranges, chip_size=setting.chip_size,
                                         stride=setting.stride, rng=rng, min_size=min_size):
            chips[j, c.level] += 1
        if progress is not None and (j % 256 == 255 or j == len(idx) - 1):
            progress(j + 1, len(idx))
    return ChipCost(idx.astype(np.int64), chips, setting.chip_size, boxset.num_images)


def _engine_work(boxset: BoxSet, setting: SniperSetting) -> np.ndarray:
    """``ndarray[I] float64``: rough cost of :func:`generate_positive_chips` per image.

    Sum over levels of candidate windows x (boxes + 1), the size of the cover's
    count matrix and of the greedy loop's updates.
    """
    counts = np.diff(boxset.offsets).astype(np.float64)
    work = np.zeros(boxset.num_images)
    c, st = setting.chip_size, setting.stride
    for scale in setting.scales:
        s = level_factors(boxset.image_sizes, scale)
        sw = _scaled_len(boxset.image_sizes[:, 0], s)
        sh = _scaled_len(boxset.image_sizes[:, 1], s)
        nx = np.where(sw > c, np.ceil((sw - c) / st) + 1, 1)
        ny = np.where(sh > c, np.ceil((sh - c) / st) + 1, 1)
        work += nx * ny * (counts + 1)
    return work


def cost_sample(boxset: BoxSet, setting: SniperSetting, max_images: int = 500,
                seed: int = 0, min_images: int = MIN_SAMPLE,
                max_work: float = SAMPLE_WORK) -> np.ndarray:
    """Images whose chips estimate a setting's pixel cost.

    A seeded random sample of up to ``max_images`` images, cut short (but not below
    ``min_images``) once the estimated engine work exceeds ``max_work``, so that data
    sets of huge, crowded images (aerial) are estimated in seconds too.

    Args:
        boxset (BoxSet): the annotations.
        setting (SniperSetting): the setting whose work bounds the sample.
        max_images (int): most images; ``<= 0`` takes every image, without the
            work bound.
        seed (int): seed of the sample.
        min_images (int): fewest images kept despite ``max_work``.
        max_work (float): bound on the summed work estimate.

    Returns:
        ndarray[S] int64: sorted image indices.
    """
    n = boxset.num_images
    if max_images <= 0:
        return np.arange(n, dtype=np.int64)
    perm = np.random.default_rng([int(seed) & 0xFFFFFFFF, 1]).permutation(n)[:max_images]
    work = np.cumsum(_engine_work(boxset, setting)[perm])
    stop = max(min(int(np.searchsorted(work, max_work, side='right')), len(perm)),
               min(min_images, len(perm)))
    return np.sort(perm[:stop]).astype(np.int64)


# --------------------------------------------------------------------------------------
# The proposal
# --------------------------------------------------------------------------------------
@dataclass
class Advice:
    """A proposed setting and how it was found.

    Attributes:
        setting (SniperSetting): the proposal.
        factors (list[float]): the levels' factors for an image of the reference size.
        reference (tuple[float, float]): ``(short, long)`` of the reference image
            (median sides); ``(1, 1)`` in factor form.
        target (tuple[float, float]): object sizes (at the reference resolution) the
            levels must bring into the band: from the ``leave_small`` quantile (or
            ``band[0] / max_upscale``) to the ``1 - leave_large`` quantile.
        band (tuple[float, float]): the comfortable size band, scaled pixels.
        notes (list[str]): why the proposal looks the way it does (limits that bit).
        candidates (list[dict]): the settings compared through the engine in the
            last search: ``factors``, ``proxy`` and ``engine`` chips per image.
    """

    setting: SniperSetting
    factors: list
    reference: tuple
    target: tuple
    band: tuple
    notes: list = field(default_factory=list)
    candidates: list = field(default_factory=list)


def reference_factors(image_sizes: np.ndarray, form: str) -> tuple[np.ndarray, tuple]:
    """Per-image factor of the reference scale, and the reference ``(short, long)``.

    In ``'resolution'`` form the reference scale is ``(S, L)``, the median short and
    long sides, so that an image of the median shape gets factor 1 and a level
    ``phi * (S, L)`` gives every image ``phi`` times its reference factor
    (:func:`scale_factor` is homogeneous in ``(short, long)``). In ``'factor'`` form
    every image's reference factor is 1.

    Returns:
        tuple: ``(ndarray[I] float64 factors, (S, L))``.
    """
    if form == 'factor':
        return np.ones(len(image_sizes)), (1.0, 1.0)
    if form != 'resolution':
        raise ValueError(f"scale_form: expected 'resolution' or 'factor', got {form!r}")
    short = float(np.median(image_sizes.min(axis=1)))
    long = float(np.median(image_sizes.max(axis=1)))
    return level_factors(image_sizes, (short, long)), (short, long)


def _round_size(v: float) -> float:
    """A range bound as it is written in a config: whole pixels, tenths below 20."""
    return float(round(v, 1)) if v < 20 else float(round(v))


def _as_bound(v: float) -> Any:
    r = _round_size(v)
    return int(r) if r == int(r) else r


def make_setting(factors: Sequence[float], reference: tuple, form: str,
                 band: tuple[float, float], chip_size: int, stride: int,
                 test_margin: float = 1.2) -> SniperSetting:
    """The setting of levels with reference factors ``factors`` (finest first).

    Level ``k`` trains the objects its band covers at the reference resolution,
    ``[band[0] / f_k, band[1] / f_k)`` original pixels, the finest open below and the
    coarsest open above (as the paper's ``[0, 80)`` and ``[120, inf)``). Its test range
    is the training range widened by ``test_margin`` each way (predicted boxes are not
    exact; detections kept by two levels are merged). Test scales are the training
    scales.

    Args:
        factors (Sequence[float]): decreasing positive factors at the reference size.
        reference (tuple): ``(short, long)`` of the reference image (resolution form).
        form (str): ``'resolution'`` writes ``(round(f * short), round(f * long))``;
            ``'factor'`` writes ``f`` to 4 significant digits.
        band (tuple[float, float]): comfortable size band, scaled pixels.
        chip_size (int): chip side.
        stride (int): chip grid step.
        test_margin (float): widening of the test ranges.

    Returns:
        SniperSetting: the setting.
    """
    lo_b, hi_b = band
    n = len(factors)
    scales, train, test = [], [], []
    for k, f in enumerate(factors):
        if form == 'resolution':
            scales.append((max(1, int(round(f * reference[0]))),
                           max(1, int(round(f * reference[1])))))
        else:
            scales.append(float(f'{f:.4g}'))
        lo = -1 if k == 0 else _as_bound(lo_b / f)
        hi = -1 if k == n - 1 else _as_bound(hi_b / f)
        train.append((lo, hi))
        test.append((-1 if k == 0 else _as_bound(lo_b / f / test_margin),
                     -1 if k == n - 1 else _as_bound(hi_b / f * test_margin)))
    return SniperSetting(scales=tuple(scales), train_ranges=tuple(train),
                         chip_size=int(chip_size), stride=int(stride),
                         test_scales=tuple(scales), test_ranges=tuple(test))


def _proxy_cost(z: np.ndarray, centers: np.ndarray, img: np.ndarray, wh: np.ndarray,
                s: np.ndarray, part: np.ndarray, lo: float, hi: float, chip_size: int,
                n_images: int) -> float:
    """Chips per image of one level, approximated by occupied chip-sized tiles.

    Counts the distinct ``chip_size`` tiles of the scaled images that hold the centre of
    a box the level trains (``lo <= z < hi`` and ``part``); an axis no longer than a chip
    is one tile. A fast stand-in for the greedy cover, only to rank candidates.

    Args:
        z (ndarray[N] float): ``sqrt(w * h)`` of the boxes, original pixels.
        centers (ndarray[N, 2] float): box centres, original pixels.
        img (ndarray[N] int): image index of each box.
        wh (ndarray[N, 2] float): size of each box's image, original pixels.
        s (ndarray[N] float): the level's factor for each box's image.
        part (ndarray[N] bool): boxes that take part in the level's cover.
        lo (float): range low end, original pixels.
        hi (float): range high end.
        chip_size (int): chip side.
        n_images (int): images the boxes come from.

    Returns:
        float: occupied tiles per image.
    """
    m = (z >= lo) & (z < hi) & part
    if not m.any():
        return 0.0
    s = s[m]
    sw, sh = _scaled_len(wh[m, 0], s), _scaled_len(wh[m, 1], s)
    ix = np.where(sw > chip_size, np.floor(centers[m, 0] * s / chip_size), 0).astype(np.int64)
    iy = np.where(sh > chip_size, np.floor(centers[m, 1] * s / chip_size), 0).astype(np.int64)
    key = (img[m].astype(np.int64) << 42) | (ix << 21) | iy
    return float(len(np.unique(key)) / n_images)


def _chains(nodes: np.ndarray, first_end: int, step: float, min_step: float,
            limit: int = 100000) -> list[tuple[int, ...]]:
    """Index chains through the sorted band low ends ``nodes``, from the first node to
    one of ``nodes[first_end:]`` (the low ends whose band reaches the largest target).

    Each next low end lies in ``(u * min_step, u * step]``: neighbouring bands overlap
    by ``overlap`` at least (``step = r / overlap``) and are not near-duplicates. Only
    chains of the fewest levels; at most ``limit`` nodes are visited.

    Returns:
        list[tuple[int, ...]]: increasing indices into ``nodes``, ``0`` first.
    """
    if first_end == 0:
        return [(0,)]
    u_end = float(nodes[first_end])

    def need(u: float) -> int:  # a lower bound of the levels still needed after u
        return max(0, int(math.ceil(math.log(u_end / u) / math.log(step) - 1e-9)))

    def reach(i: int) -> np.ndarray:
        u = float(nodes[i])
        return np.flatnonzero((nodes > u * min_step) & (nodes <= u * step * (1 + 1e-9)))

    # The fewest levels on this grid: always jump to the coarsest reachable node.
    k_min, i = 1, 0
    while i < first_end:
        nxt = reach(i)
        if len(nxt) == 0:
            return []
        i, k_min = int(nxt[-1]), k_min + 1
    out: list[tuple[int, ...]] = []
    visits = [0]

    def walk(chain: tuple[int, ...]) -> None:
        visits[0] += 1
        if chain[-1] >= first_end:
            out.append(chain)
            return
        if visits[0] > limit or len(chain) + need(float(nodes[chain[-1]])) > k_min:
            return
        for j in reach(chain[-1])[::-1]:  # coarsest first: the greedy chain comes first
            walk(chain + (int(j),))

    walk((0,))
    return [c for c in out if len(c) == k_min]


def propose_setting(boxset: BoxSet, band: tuple[float, float] = (32, 160),
                    chip_size: int = 512, stride: int | None = None,
                    overlap: float = 1.25, leave_small: float = 0.125,
                    leave_large: float = 0.001, max_upscale: float = 8.0,
                    budget: float | None = None, scale_form: str = 'resolution',
                    search_sample: int = SEARCH_SAMPLE, seed: int = 0, top: int = 6,
                    tolerance: float = 0.03, progress: Progress = None,
                    min_size: float = MIN_SIZE) -> Advice:
    """Propose a SNIPER setting from the boxes of a data set.

    1. Sizes: ``sqrt(w * h)`` of every box at the reference resolution
       (:func:`reference_factors`).
    2. Target: the levels must bring ``[z_lo, z_hi]`` into the band, ``z_lo`` the
       ``leave_small`` quantile (but no finer than ``band[0] / max_upscale``), ``z_hi``
       the ``1 - leave_large`` quantile.
    3. Candidates: chains of levels, finest first, each given by the low end ``u`` of
       its band in original pixels (factor ``band[0] / u``): the finest at ``z_lo``
       (``band[0]`` in the network), the coarsest with ``u`` in ``[z_hi / r,
       2 z_hi / r]`` (its band reaches ``z_hi``, at most an octave beyond), the
       fewest levels, neighbours overlapping by ``overlap`` at least; ``u`` on a log
       grid (8 steps per octave) plus the factor at which the reference image fills
       exactly one chip.
    4. Ranking: every chain by a fast proxy of its chips per image (occupied chip
       tiles), then the ``top`` best by :func:`predict_chip_cost` on a sample; the
       cheapest wins, and among those within ``tolerance`` of it, the finest.
    5. Budget: while the chips' pixels per image exceed ``budget``, raise ``z_lo``
       (leave more small objects below the band; bisection over grid steps of 1/8
       octave, assuming the cost falls as ``z_lo`` rises) and search again.

    Args:
        boxset (BoxSet): the annotations.
        band (tuple[float, float]): comfortable ``sqrt(w * h)`` in scaled pixels.
        chip_size (int): chip side, scaled pixels.
        stride (int | None): chip grid step; None: ``chip_size // 16`` (32 at 512).
        overlap (float): least ratio by which neighbouring levels' ranges overlap.
        leave_small (float): share of the smallest objects allowed below the band at
            the finest level (still trained there: its range is open below).
        leave_large (float): share of the largest objects allowed above the band at
            the coarsest level (still trained there).
        max_upscale (float): largest factor for an image of the reference size.
        budget (float | None): most positive-chip pixels per image.
        scale_form (str): ``'resolution'`` (``(short, long)`` pairs) or ``'factor'``.
        search_sample (int): most images of the engine sample that ranks the
            candidates (cut further for large crowded images, see :func:`cost_sample`);
            the same images for every candidate.
        seed (int): seed of the sample and of the chip shuffle.
        top (int): candidate chains compared through the engine.
        tolerance (float): relative cost difference treated as a tie.
        progress (callable | None): ``progress(done, total)`` over the candidates.
        min_size (float): ``SniperDataset.min_size`` (scaled pixels per side).

    Returns:
        Advice: the proposal and its reasons.
    """
    lo_b, hi_b = (float(v) for v in band)
    if not (0 < lo_b < hi_b and math.isfinite(hi_b)):
        raise ValueError(f'band: expected 0 < lo < hi, got {band!r}')
    if isinstance(chip_size, bool) or not (isinstance(chip_size, (int, np.integer))
                                           and chip_size > 0):
        raise ValueError(f'chip_size: expected a positive integer, got {chip_size!r}')
    stride = int(stride) if stride is not None else max(1, int(chip_size) // 16)
    if not 0 < stride < chip_size - 1:
        raise ValueError(f'stride: expected 1..{chip_size - 2}, got {stride}')
    if hi_b >= chip_size - stride - 1:
        raise ValueError(f'band: its top ({hi_b:g} px) must fit a chip: expected below '
                         f'chip_size - stride - 1 = {chip_size - stride - 1}, got band {band!r}')
    if not overlap >= 1:
        raise ValueError(f'overlap: expected a ratio >= 1, got {overlap!r}')
    r = hi_b / lo_b
    if r <= overlap:
        raise ValueError(f'overlap: expected less than the band ratio {r:g}, got {overlap!r}')
    for name, q in (('leave_small', leave_small), ('leave_large', leave_large)):
        if not 0 <= q < 0.5:
            raise ValueError(f'{name}: expected a fraction in [0, 0.5), got {q!r}')
    if not max_upscale > 0:
        raise ValueError(f'max_upscale: expected a positive factor, got {max_upscale!r}')
    if budget is not None and not budget > 0:
        raise ValueError(f'budget: expected positive pixels per image, got {budget!r}')

    # 1. Sizes at the reference resolution.
    g_img, reference = reference_factors(boxset.image_sizes, scale_form)
    img = boxset.box_image
    z = boxset.sizes()
    zr = z * g_img[img]
    notes: list[str] = []
    # 2. Target.
    z_small = float(np.quantile(zr, leave_small))
    z_lo = max(z_small, lo_b / max_upscale)
    if z_small < z_lo:
        notes.append(f'finest level capped at x{max_upscale:g} (--max-upscale): objects below '
                     f'{z_lo:.1f} px stay below the band')
    z_hi = max(float(np.quantile(zr, 1 - leave_large)), z_lo)

    # Proxy inputs: every box (or a 20000-image sample on big sets).
    prox_img = np.arange(boxset.num_images)
    if boxset.num_images > 20000:
        prox_img = np.sort(np.random.default_rng([seed, 2]).permutation(
            boxset.num_images)[:20000])
    pmask = np.zeros(boxset.num_images, dtype=bool)
    pmask[prox_img] = True
    pm = pmask[img]
    pb, pz, pimg = boxset.boxes[pm], z[pm], img[pm]
    pwh, pg = boxset.image_sizes[pimg], g_img[pimg]
    centers = np.stack([(pb[:, 0] + pb[:, 2]) / 2, (pb[:, 1] + pb[:, 3]) / 2], axis=1)
    part_cache: dict[float, np.ndarray] = {}

    def part(f: float) -> np.ndarray:  # boxes taking part at reference factor f
        if f not in part_cache:
            part_cache[f] = _takes_part(pb, pwh, pg * f, chip_size, stride, min_size)
        return part_cache[f]

    engine_cache: dict[tuple, np.ndarray] = {}

    def search(z_lo: float) -> tuple[list[float], float, list[dict]]:
        # 3. Candidate chains: band low ends u from z_lo (the finest) to a coarsest
        # whose band reaches z_hi, but at most one octave past it (shrinking the largest
        # objects further saves chips only on images without them, and loses detail);
        # the levels on a log grid plus the factor at which the reference image fills
        # one chip exactly.
        u_end = max(z_hi / r, z_lo)
        n_grid = int(math.ceil(8 * math.log2(2 * u_end / z_lo) - 1e-9))
        nodes = np.concatenate([z_lo * 2.0 ** (np.arange(n_grid) / 8), [u_end, 2 * u_end]])
        fill = lo_b * reference[1] / chip_size if scale_form == 'resolution' else (
            lo_b * float(np.median(boxset.image_sizes.max(axis=1))) / chip_size)
        nodes = np.unique(np.append(nodes, fill) if z_lo < fill < 2 * u_end else nodes)
        nodes = nodes[(nodes >= z_lo) & (nodes <= 2 * u_end)]
        first_end = int(np.searchsorted(nodes, u_end * (1 - 1e-9)))
        chains = _chains(nodes, first_end, r / overlap,
                         min_step=min(1.25, math.sqrt(r / overlap)))
        if not chains:  # pragma: no cover (the grid is finer than any allowed step)
            raise RuntimeError(f'no chain of levels from {z_lo:.3g} to {u_end:.3g} px')
        n_lv = len(chains[0])
        # One engine sample for every candidate (common images), sized by the finest
        # level, the most expensive one.
        first = make_setting([lo_b / z_lo] + ([lo_b / u_end] if n_lv > 1 else []), reference,
                             scale_form, (lo_b, hi_b), chip_size, stride)
        idx = cost_sample(boxset, SniperSetting(first.scales[:1], ((-1, -1),), chip_size,
                                                stride, first.scales[:1], ((-1, -1),)),
                          search_sample, seed, min_images=8, max_work=SAMPLE_WORK / 10)
        proxy: dict[tuple[int, str], float] = {}

        def role(k: int) -> str:
            return 'single' if n_lv == 1 else 'first' if k == 0 else (
                'last' if k == n_lv - 1 else 'mid')

        def bounds(u: float, rl: str) -> tuple[float, float]:
            return (0.0 if rl in ('first', 'single') else u,
                    math.inf if rl in ('last', 'single') else u * r)

        def pcost(i: int, rl: str) -> float:
            if (i, rl) not in proxy:
                u = float(nodes[i])
                f = lo_b / u
                proxy[i, rl] = _proxy_cost(pz, centers, pimg, pwh, pg * f, part(f),
                                           *bounds(u, rl), chip_size, len(prox_img))
            return proxy[i, rl]

        totals = [sum(pcost(i, role(k)) for k, i in enumerate(ch)) for ch in chains]
        order = np.argsort(totals, kind='stable')[:top]
        # 4. The best few through the chip engine, level by level (cached).
        cands = []
        for n_done, o in enumerate(order):
            ch = chains[int(o)]
            factors = [lo_b / float(nodes[i]) for i in ch]
            setting = make_setting(factors, reference, scale_form, (lo_b, hi_b), chip_size,
                                   stride)
            total = 0.0
            for k in range(n_lv):
                key = (setting.scales[k], setting.train_ranges[k], idx.tobytes())
                if key not in engine_cache:
                    one = SniperSetting((setting.scales[k],), (setting.train_ranges[k],),
                                        chip_size, stride, (setting.scales[k],),
                                        (setting.test_ranges[k],))
                    engine_cache[key] = predict_chip_cost(boxset, one, idx, seed,
                                                          min_size=min_size).chips[:, 0]
                total += float(engine_cache[key].mean())
            cands.append(dict(factors=factors, proxy=float(totals[int(o)]), engine=total))
            if progress is not None:
                progress(n_done + 1, len(order))
        best = min(c['engine'] for c in cands)
        near = [c for c in cands if c['engine'] <= best * (1 + tolerance) + 1e-12]
        pick = max(near, key=lambda c: sum(math.log(f) for f in c['factors']))
        return pick['factors'], pick['engine'], cands

    factors, chips, cands = search(z_lo)
    # 5. Budget: give up the smallest objects until the chips fit it. The cost falls
    # as z_lo rises, so bisect over the grid steps z_lo * 2 ** (j / 8) up to z_hi.
    if budget is not None and chips * chip_size ** 2 > budget:
        z_first = z_lo
        lo_j, hi_j = 0, max(1, int(math.floor(8 * math.log2(max(z_hi / z_first, 1.0)))))
        found = None
        while hi_j - lo_j > 1 or found is None:
            j = hi_j if found is None and hi_j - lo_j <= 1 else (lo_j + hi_j) // 2
            result = search(z_first * 2 ** (j / 8))
            if result[1] * chip_size ** 2 <= budget:
                hi_j, found = j, (j, result)
            elif j == hi_j:  # even the coarsest finest level is over the budget
                found = (j, result)
                break
            else:
                lo_j = j
        j, (factors, chips, cands) = found
        z_lo = z_first * 2 ** (j / 8)
        if chips * chip_size ** 2 > budget:
            notes.append(f'budget {budget:.3g} px/image not reached: the cheapest setting '
                         f'found costs {chips * chip_size ** 2:.3g}')
        else:
            notes.append(f'budget {budget:.3g} px/image: finest level lowered so that objects '
                         f'below {z_lo:.1f} px (not {z_first:.1f}) stay below the band')
    setting = make_setting(factors, reference, scale_form, (lo_b, hi_b), chip_size, stride)
    return Advice(setting=setting, factors=[float(f) for f in factors],
                  reference=tuple(reference), target=(float(z_lo), float(z_hi)),
                  band=(lo_b, hi_b), notes=notes, candidates=cands)


# --------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------
def evaluate_setting(boxset: BoxSet, setting: SniperSetting, band: tuple[float, float],
                     sample: int = 500, seed: int = 0, progress: Progress = None,
                     max_work: float = SAMPLE_WORK, min_size: float = MIN_SIZE) -> dict:
    """Coverage (every object) and pixel cost (engine, on a sample) of a setting.

    Args:
        boxset (BoxSet): the annotations.
        setting (SniperSetting): the setting.
        band (tuple[float, float]): comfortable size band, scaled pixels.
        sample (int): most images of the cost sample (``<= 0``: every image); see
            :func:`cost_sample`, with ``max_work``.
        seed (int): seed of the sample and of the chip shuffle.
        progress (callable | None): ``progress(done, total)`` over the sample.
        max_work (float): engine work that cuts the sample short.
        min_size (float): ``SniperDataset.min_size`` (scaled pixels per side).

    Returns:
        dict: ``setting`` (the ``sniper`` block), ``levels`` (per level: ``scale``,
        ``factor`` median/min/max over images, ``train_range``, ``test_range``,
        ``trained`` and ``in_band`` shares of all objects, ``chips_per_image``,
        ``pixels_per_image``), ``covered``/``too_small``/``too_large``/``in_gap``
        shares, ``objects``, ``chips_per_image``, ``pixels_per_image``,
        ``sample_images`` and ``images``.
    """
    cov = coverage(boxset, setting, band, min_size)
    idx = cost_sample(boxset, setting, sample, seed, max_work=max_work)
    cost = predict_chip_cost(boxset, setting, idx, seed, progress, min_size)
    n = max(len(cov.covered), 1)
    levels = []
    for k, scale in enumerate(setting.scales):
        f = level_factors(boxset.image_sizes, scale)
        levels.append(dict(
            scale=scale, factor=dict(median=float(np.median(f)), min=float(f.min()),
                                     max=float(f.max())),
            train_range=setting.train_ranges[k], test_range=setting.test_ranges[k],
            trained=float(cov.trained[k].sum() / n), in_band=float(cov.in_band[k].sum() / n),
            chips_per_image=float(cost.level_chips_per_image[k]),
            pixels_per_image=float(cost.level_chips_per_image[k] * setting.chip_size ** 2)))
    return dict(setting=setting.as_dict(), levels=levels, objects=int(len(cov.covered)),
                covered=float(cov.covered.sum() / n), too_small=float(cov.too_small.sum() / n),
                too_large=float(cov.too_large.sum() / n), in_gap=float(cov.in_gap.sum() / n),
                chips_per_image=cost.chips_per_image, pixels_per_image=cost.pixels_per_image,
                sample_images=int(len(idx)), images=boxset.num_images)


def _fmt_range(r: tuple, inclusive: str) -> str:
    lo, hi = r
    lo_s = '0' if lo in (-1, None) else f'{lo:g}'
    hi_s = 'inf' if hi in (-1, None) else f'{hi:g}'
    return f'[{lo_s}, {hi_s})' if inclusive == 'left' else f'({lo_s}, {hi_s}]'


def _fmt_scale(s: Any) -> str:
    return f'x{s:g}' if isinstance(s, (int, float)) else f'({s[0]:g}, {s[1]:g})'


def format_report(reports: Sequence[tuple[str, dict]], band: tuple[float, float]) -> str:
    """A side-by-side table of :func:`evaluate_setting` results (one column each)."""
    n_lv = max(len(rep['levels']) for _, rep in reports)
    rows: list[tuple[str, list[str]]] = [('', [name for name, _ in reports])]

    def add(label: str, fn: Callable[[dict], str]) -> None:
        rows.append((label, [fn(rep) for _, rep in reports]))

    def lv(k: int, fn: Callable[[dict], str]) -> Callable[[dict], str]:
        return lambda rep: fn(rep['levels'][k]) if k < len(rep['levels']) else '-'

    for k in range(n_lv):
        add(f'level {k}: scale', lv(k, lambda d: _fmt_scale(d['scale'])))
        add('  factor (median, min-max)', lv(k, lambda d: '{:.3g} ({:.3g}-{:.3g})'.format(
            d['factor']['median'], d['factor']['min'], d['factor']['max'])))
        add('  train range (orig px)', lv(k, lambda d: _fmt_range(d['train_range'], 'left')))
        add('  test range (orig px)', lv(k, lambda d: _fmt_range(d['test_range'], 'right')))
        add('  objects trained', lv(k, lambda d: f'{100 * d["trained"]:.1f} %'))
        add(f'  objects in band {band[0]:g}-{band[1]:g}', lv(k, lambda d:
                                                             f'{100 * d["in_band"]:.1f} %'))
        add('  chips / image', lv(k, lambda d: f'{d["chips_per_image"]:.2f}'))
        add('  Mpx / image', lv(k, lambda d: f'{d["pixels_per_image"] / 1e6:.2f}'))
    add('in band at >= 1 level', lambda rep: f'{100 * rep["covered"]:.1f} %')
    add('  too small (below band everywhere)', lambda rep: f'{100 * rep["too_small"]:.1f} %')
    add('  too large (above band everywhere)', lambda rep: f'{100 * rep["too_large"]:.1f} %')
    add('  in a gap (band level does not train it)', lambda rep: f'{100 * rep["in_gap"]:.1f} %')
    add('positive chips / image', lambda rep: f'{rep["chips_per_image"]:.2f}')
    add('positive-chip Mpx / image', lambda rep: f'{rep["pixels_per_image"] / 1e6:.2f}')
    add('cost sample (images)', lambda rep: (f'{rep["sample_images"]} of {rep["images"]}'
                                             if rep['sample_images'] < rep['images']
                                             else f'all {rep["images"]}'))
    w0 = max(len(label) for label, _ in rows) + 2
    widths = [max(len(cells[j]) for _, cells in rows) + 3 for j in range(len(reports))]
    lines = []
    for label, cells in rows:
        lines.append(label.ljust(w0) + ''.join(c.ljust(wd) for c, wd in zip(cells, widths)))
    return '\n'.join(line.rstrip() for line in lines)


def config_snippet(setting: SniperSetting, base: str | None = None,
                   header: Sequence[str] = ()) -> str:
    """A config fragment that sets ``sniper`` and every owner of its values.

    The ``sniper`` block, ``train_dataloader.dataset`` (scales, train_ranges,
    chip_size, stride), ``tta_model.test_ranges`` and a ``tta_pipeline`` over the test
    scales (the one of ``configs/_base_/sniper_tta.py``). Paste it at the end of a
    SNIPER config, or pass ``base``: the fragment then inherits that config
    (``_base_ = [base]``) and is itself a complete config to ``_base_`` or train.

    Args:
        setting (SniperSetting): the setting.
        base (str | None): config path written into ``_base_``.
        header (Sequence[str]): comment lines written first.

    Returns:
        str: Python source of the fragment.
    """
    d = setting.as_dict()
    out = [f'# {line}' if line else '#' for line in header]
    if base is not None:
        out.append(f'_base_ = [{base!r}]')
        out.append('')
    out.append('sniper = dict(')
    for key in ('scales', 'train_ranges', 'chip_size', 'stride', 'test_scales', 'test_ranges'):
        out.append(f'    {key}={d[key]!r},')
    out.append(')')
    out.append('train_dataloader = dict(dataset=dict(\n'
               "    scales=sniper['scales'], train_ranges=sniper['train_ranges'],\n"
               "    chip_size=sniper['chip_size'], stride=sniper['stride']))")
    out.append("tta_model = dict(test_ranges=sniper['test_ranges'])")
    out.append("""tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='TestTimeAug',
         transforms=[
             [dict(type='PyramidResize', scale=s, level=i)
              for i, s in enumerate(sniper['test_scales'])],
             [dict(type='LoadAnnotations', with_bbox=True)],
             [dict(type='PackDetInputs',
                   meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                              'scale_factor', 'flip', 'flip_direction', 'pyramid_level'))],
         ]),
]""")
    return '\n'.join(out) + '\n'


def plot_size_histogram(boxset: BoxSet, settings: Sequence[tuple[str, SniperSetting]],
                        path: str, band: tuple[float, float]) -> None:
    """Histogram of object sizes with each setting's training ranges, as a PNG.

    ``sqrt(w * h)`` in original pixels on a log axis, one panel per setting; each
    level's training range is a shaded span and the sizes its band covers (for the
    median image's factor) a bar above the histogram.

    Args:
        boxset (BoxSet): the annotations.
        settings (Sequence[tuple[str, SniperSetting]]): ``(title, setting)`` panels.
        path (str): the PNG to write.
        band (tuple[float, float]): comfortable size band, scaled pixels.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    z = boxset.sizes()
    z = z[z > 0]
    lo, hi = max(float(z.min()), 0.5), float(z.max())
    bins = np.geomspace(lo / 1.05, hi * 1.05, 60)
    fig, axes = plt.subplots(len(settings), 1, figsize=(12, 3.2 * len(settings)), sharex=True,
                             squeeze=False)
    colors = plt.get_cmap('tab10').colors
    # x range: the objects and every band bar, so that open ranges end at the frame.
    med = [[float(np.median(level_factors(boxset.image_sizes, sc))) for sc in st.scales]
           for _, st in settings]
    x_lo = min([bins[0]] + [band[0] / f for fs in med for f in fs]) / 1.1
    x_hi = max([bins[-1]] + [band[1] / f for fs in med for f in fs]) * 1.1
    for ax, (title, setting), factors in zip(axes[:, 0], settings, med):
        counts, _, _ = ax.hist(z, bins=bins, color='0.55')
        top = max(float(counts.max()), 1.0)
        ranges = normalize_ranges(setting.train_ranges)
        for k, (scale, f) in enumerate(zip(setting.scales, factors)):
            c = colors[k % len(colors)]
            a, b = max(ranges[k, 0], x_lo), min(ranges[k, 1], x_hi)
            if a < b:
                ax.axvspan(a, b, ymax=0.8, color=c, alpha=0.15)
            y = top * (1.08 + 0.08 * k)
            train = _fmt_range(setting.train_ranges[k], 'left')
            ax.plot([band[0] / f, band[1] / f], [y, y], color=c, lw=3,
                    label=f'level {k} {_fmt_scale(scale)}: train {train}')
        ax.set_ylim(0, top * (1.2 + 0.08 * len(setting.scales)) / 0.95)
        ax.set_xscale('log')
        ax.set_xlim(x_lo, x_hi)
        ax.set_ylabel('objects')
        ax.set_title(f'{title}: shaded = training ranges; bars = sizes in the band '
                     f'{band[0]:g}-{band[1]:g} px at the median factor', fontsize=10)
        ax.legend(fontsize=8, loc='upper left', bbox_to_anchor=(1.01, 1.0))
    axes[-1, 0].set_xlabel('sqrt(w * h), original pixels')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --------------------------------------------------------------------------------------
# Synthetic annotation files (benchmarks, examples)
# --------------------------------------------------------------------------------------
def synthetic_coco(kind: str, num_images: int, seed: int = 0,
                   objects_per_image: float | None = None) -> dict:
    """A synthetic COCO-format annotation dict (no pixels), for benchmarks and demos.

    ``'coco'``: long side 640, ``h / w`` uniform in ``[0.6, 1.5]``, box ``sqrt(area)``
    log-normal (mu 3.743, sigma 1.218: COCO's small/medium/large shares), aspect
    ratios log-normal (sigma 0.5), clipped to the image, placed uniformly; a
    negative-binomial number of boxes per image, mean 7.3 (median about 5).
    ``'aerial'``: 4000x4000 images, ``sqrt(area)`` log-uniform in ``[4, 40]``, Poisson
    number of boxes (mean 150), half in clusters (parking lots), half uniform.

    Args:
        kind (str): ``'coco'`` or ``'aerial'``.
        num_images (int): images.
        seed (int): seed.
        objects_per_image (float | None): mean boxes per image (default per kind).

    Returns:
        dict: ``images``, ``annotations`` (``bbox`` ``[x, y, w, h]``, ``area``,
        ``iscrowd`` 0, ``category_id`` 1) and ``categories``.
    """
    if kind not in ('coco', 'aerial'):
        raise ValueError(f"kind: expected 'coco' or 'aerial', got {kind!r}")
    rng = np.random.default_rng(seed)
    n = int(num_images)
    if kind == 'coco':
        mean = 7.3 if objects_per_image is None else float(objects_per_image)
        ratio = rng.uniform(0.6, 1.5, n)  # h / w
        w = np.where(ratio <= 1, 640, np.round(640 / ratio))
        h = np.where(ratio <= 1, np.round(640 * ratio), 640)
        disp = 1.5
        counts = np.maximum(rng.negative_binomial(disp, disp / (disp + mean), n), 0)
    else:
        mean = 150.0 if objects_per_image is None else float(objects_per_image)
        w = np.full(n, 4000.0)
        h = np.full(n, 4000.0)
        counts = rng.poisson(mean, n)
    m = int(counts.sum())
    img = np.repeat(np.arange(n), counts)
    iw, ih = w[img], h[img]
    if kind == 'coco':
        side = np.exp(rng.normal(3.743, 1.218, m))
    else:
        side = np.exp(rng.uniform(math.log(4), math.log(40), m))
    aspect = np.exp(rng.normal(0.0, 0.5 if kind == 'coco' else 0.3, m))
    bw = np.maximum(np.minimum(side * np.sqrt(aspect), iw), 1.0)
    bh = np.maximum(np.minimum(side / np.sqrt(aspect), ih), 1.0)
    x = rng.uniform(0, 1, m) * (iw - bw)
    y = rng.uniform(0, 1, m) * (ih - bh)
    if kind == 'aerial':  # half the boxes in ~6 clusters per image, 300 px wide
        cl = rng.random(m) < 0.5
        cx = rng.uniform(300, 3700, (n, 6))
        cy = rng.uniform(300, 3700, (n, 6))
        pick = rng.integers(0, 6, m)
        x = np.where(cl, np.clip(cx[img, pick] + rng.normal(0, 100, m), 0, iw - bw), x)
        y = np.where(cl, np.clip(cy[img, pick] + rng.normal(0, 100, m), 0, ih - bh), y)
    x, y, bw, bh = (np.round(v, 2) for v in (x, y, bw, bh))
    images = [dict(id=int(i + 1), file_name=f'{i + 1:012d}.jpg', width=int(w[i]),
                   height=int(h[i])) for i in range(n)]
    xs, ys, ws, hs, ims = x.tolist(), y.tolist(), bw.tolist(), bh.tolist(), (img + 1).tolist()
    anns = [dict(id=j + 1, image_id=ims[j], category_id=1, bbox=[xs[j], ys[j], ws[j], hs[j]],
                 area=round(ws[j] * hs[j], 2), iscrowd=0) for j in range(m)]
    return dict(images=images, annotations=anns,
                categories=[dict(id=1, name='object')])
