"""The scale advisor's search: coverage, pixel cost through the planner, the proposal.

Proposes a complete SNIPER setting -- scales, training and test valid ranges, chip size and
stride -- such that the objects fall in the detector's comfortable size band (``band``,
scaled pixels of ``sqrt(w * h)``) at one level at least, at the least pixel cost of
positive chips. See ``docs/user_guides/advisor.md`` for the algorithm and its choices.

Every rule comes from the chip engine: scale factors (:func:`~mmsniper.chips.scales.
image_scale_factors`), the range test (:func:`~mmsniper.chips.range_mask`), which boxes
take part in a cover (:func:`~mmsniper.chips.cover.cover_boxes`), the settings' checks
(:class:`~mmsniper.chips.SniperSettings`) and the chip counts (the planner,
:func:`~mmsniper.chips.plan_epoch`).

Frames: "original" sizes are pixels of the image file, as annotated; "scaled" sizes are
original x the level's factor ``s`` (what the network sees). Valid ranges are always
``sqrt(w * h)`` in original pixels. Sizes "at the reference resolution" are original sizes
times the image's factor for the reference scale (1 for images of the reference size; see
:func:`reference_factors`). NumPy only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np

from ..chips import SniperSettings, plan_epoch, range_mask
from ..chips.cover import cover_boxes, max_fit_extent
from ..chips.scales import image_scale_factors, scaled_lengths
from .annotations import BoxSet

#: ``progress(done, total)``, called now and then by long loops.
Progress = Optional[Callable[[int, int], None]]

#: Fewest images the cost sample keeps even when images are large and crowded.
MIN_SAMPLE = 20
#: Engine work (candidate windows x boxes, summed over the sample) that stops adding
#: images to the cost sample: about ten seconds of the planner (measured: 1e8 to 3e8 per
#: second on one core for 4000x4000 images at 1.5x-6x).
SAMPLE_WORK = 1.5e9
#: The search ranks candidates on a smaller sample: at most this many images, and a
#: tenth of the work.
SEARCH_SAMPLE = 100

#: The paper's COCO setting: the settings' defaults (configs/_base_/sniper_settings.py).
COCO_DEFAULTS = SniperSettings()


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


def coverage(boxset: BoxSet, setting: SniperSettings, band: tuple[float, float]) -> Coverage:
    """Coverage of every object of ``boxset`` by the training levels of ``setting``.

    Args:
        boxset (BoxSet): the annotations.
        setting (SniperSettings): scales, training ranges, chip size, stride and
            ``min_size`` (boxes below it per side get no chip at a level, so that level
            does not train them).
        band (tuple[float, float]): comfortable ``sqrt(w * h)`` in SCALED pixels.

    Returns:
        Coverage: per-level and per-object masks (see :class:`Coverage`).
    """
    lo_b, hi_b = band
    z = boxset.sizes()
    img = boxset.box_image
    wh = boxset.image_sizes[img]
    ranges = setting.train_bounds
    n_lv = setting.num_levels
    factors = np.empty((n_lv, len(z)))
    trained = np.empty((n_lv, len(z)), dtype=bool)
    for k, scale in enumerate(setting.scales):
        s = image_scale_factors(boxset.image_sizes, scale)[img]
        factors[k] = s
        # the planner's own tests: the range, then the cover's size and fit rules
        _, part = cover_boxes(boxset.boxes, wh[:, 0], wh[:, 1], s, setting.chip_size,
                              setting.stride, setting.min_size)
        trained[k] = range_mask(z, ranges[k, 0], ranges[k, 1], 'left') & part
    scaled = z * factors
    band_any = (scaled >= lo_b) & (scaled <= hi_b)
    in_band = trained & band_any
    covered = in_band.any(axis=0)
    too_small = ~covered & (scaled.max(axis=0) < lo_b)
    too_large = ~covered & (scaled.min(axis=0) > hi_b)
    in_gap = ~covered & ~too_small & ~too_large
    return Coverage(factors, trained, in_band, too_small, too_large, in_gap)



# --------------------------------------------------------------------------------------
@dataclass
class ChipCost:
    """Positive chips of a setting, counted by the planner (:func:`~mmsniper.chips.plan_epoch`).

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


def predict_chip_cost(boxset: BoxSet, setting: SniperSettings,
                      images: np.ndarray | None = None, seed: int = 0,
                      progress: Progress = None) -> ChipCost:
    """Positive chips per image, computed by the planner training uses.

    :func:`mmsniper.chips.plan_epoch` at epoch 0 with ``seed``, the function behind
    ``SniperDataset.plan_epoch`` and ``tools/analysis_tools/chip_stats.py``: each image in
    turn, one generator drawn through them. Given all images, the count is training's;
    given a sample, it estimates it.

    Args:
        boxset (BoxSet): the annotations.
        setting (SniperSettings): scales, training ranges, chip size, stride, min_size.
        images (ndarray[S] int | None): indices of the images to count (sorted here);
            None counts every image.
        seed (int): seed of the candidate shuffle.
        progress (callable | None): ``progress(done, total)`` every 256 images.

    Returns:
        ChipCost: chips per image and level.
    """
    idx = np.arange(boxset.num_images) if images is None else np.unique(np.asarray(images))
    chips = np.zeros((len(idx), setting.num_levels), dtype=np.int64)
    plan = plan_epoch(boxset, setting, seed, epoch=0, images=idx)
    for j, (_, image_plan) in enumerate(plan):
        for c in image_plan.positive:
            chips[j, c.level] += 1
        if progress is not None and (j % 256 == 255 or j == len(idx) - 1):
            progress(j + 1, len(idx))
    return ChipCost(idx.astype(np.int64), chips, setting.chip_size, boxset.num_images)


def _engine_work(boxset: BoxSet, setting: SniperSettings) -> np.ndarray:
    """``ndarray[I] float64``: rough cost of :func:`generate_positive_chips` per image.

    Sum over levels of candidate windows x (boxes + 1), the size of the cover's
    count matrix and of the greedy loop's updates.
    """
    counts = np.diff(boxset.offsets).astype(np.float64)
    work = np.zeros(boxset.num_images)
    c, st = setting.chip_size, setting.stride
    for scale in setting.scales:
        s = image_scale_factors(boxset.image_sizes, scale)
        sw = scaled_lengths(boxset.image_sizes[:, 0], s)
        sh = scaled_lengths(boxset.image_sizes[:, 1], s)
        nx = np.where(sw > c, np.ceil((sw - c) / st) + 1, 1)
        ny = np.where(sh > c, np.ceil((sh - c) / st) + 1, 1)
        work += nx * ny * (counts + 1)
    return work


def cost_sample(boxset: BoxSet, setting: SniperSettings, max_images: int = 500,
                seed: int = 0, min_images: int = MIN_SAMPLE,
                max_work: float = SAMPLE_WORK) -> np.ndarray:
    """Images whose chips estimate a setting's pixel cost.

    A seeded random sample of up to ``max_images`` images, cut short (but not below
    ``min_images``) once the estimated engine work exceeds ``max_work``, so that data
    sets of huge, crowded images (aerial) are estimated in seconds too.

    Args:
        boxset (BoxSet): the annotations.
        setting (SniperSettings): the setting whose work bounds the sample.
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
@dataclass
class Advice:
    """A proposed setting and how it was found.

    Attributes:
        setting (SniperSettings): the proposal.
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

    setting: SniperSettings
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
    return image_scale_factors(image_sizes, (short, long)), (short, long)


def _round_size(v: float) -> float:
    """A range bound as it is written in a config: whole pixels, tenths below 20."""
    return float(round(v, 1)) if v < 20 else float(round(v))


def _as_bound(v: float) -> Any:
    r = _round_size(v)
    return int(r) if r == int(r) else r


def make_setting(factors: Sequence[float], reference: tuple, form: str,
                 band: tuple[float, float], chip_size: int, stride: int,
                 test_margin: float = 1.2, min_size: Optional[float] = None) -> SniperSettings:
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
        min_size (float | None): the settings' ``min_size``; None: the default.

    Returns:
        SniperSettings: the setting (the other keys at their defaults).
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
    extra = {} if min_size is None else dict(min_size=min_size)
    return SniperSettings(scales=tuple(scales), train_ranges=tuple(train),
                          chip_size=int(chip_size), stride=int(stride),
                          test_scales=tuple(scales), test_ranges=tuple(test), **extra)


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
    m = range_mask(z, lo, hi, 'left') & part
    if not m.any():
        return 0.0
    s = s[m]
    sw, sh = scaled_lengths(wh[m, 0], s), scaled_lengths(wh[m, 1], s)
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
                    min_size: Optional[float] = None) -> Advice:
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
        min_size (float | None): the training ``min_size`` the proposal is for (scaled
            pixels per side); None: the settings' default.

    Returns:
        Advice: the proposal and its reasons.
    """
    lo_b, hi_b = (float(v) for v in band)
    if not (0 < lo_b < hi_b and math.isfinite(hi_b)):
        raise ValueError(f'band: expected 0 < lo < hi, got {band!r}')
    # chip_size, stride and min_size by the settings' own rules
    given = dict(chip_size=chip_size, min_size=min_size)
    if stride is None and isinstance(chip_size, (int, np.integer)):
        stride = max(1, int(chip_size) // 16)
    given['stride'] = stride
    checked = SniperSettings.from_dict({k: v for k, v in given.items() if v is not None},
                                       where='propose_setting')
    chip_size, stride, min_size = checked.chip_size, checked.stride, checked.min_size
    fit = max_fit_extent(chip_size, stride)
    if hi_b >= fit:
        raise ValueError(f'band: its top ({hi_b:g} px) must fit a chip: expected below '
                         f'chip_size - stride - 1 = {fit}, got band {band!r}')
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
            part_cache[f] = cover_boxes(pb, pwh[:, 0], pwh[:, 1], pg * f, chip_size, stride,
                                        min_size)[1]
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
        idx = cost_sample(boxset, SniperSettings(first.scales[:1], ((-1, -1),), chip_size,
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
                                   stride, min_size=min_size)
            total = 0.0
            for k in range(n_lv):
                key = (setting.scales[k], setting.train_ranges[k], idx.tobytes())
                if key not in engine_cache:
                    one = SniperSettings((setting.scales[k],), (setting.train_ranges[k],),
                                         chip_size, stride, (setting.scales[k],),
                                         (setting.test_ranges[k],), min_size=min_size)
                    engine_cache[key] = predict_chip_cost(boxset, one, idx, seed).chips[:, 0]
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
    setting = make_setting(factors, reference, scale_form, (lo_b, hi_b), chip_size, stride,
                           min_size=min_size)
    return Advice(setting=setting, factors=[float(f) for f in factors],
                  reference=tuple(reference), target=(float(z_lo), float(z_hi)),
                  band=(lo_b, hi_b), notes=notes, candidates=cands)
