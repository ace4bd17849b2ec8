"""What SNIPER will train on, before training: chip statistics.

Behind ``tools/analysis_tools/chip_stats.py`` and, with the pictures of
:mod:`mmsniper.visualization.chips`, ``tools/analysis_tools/browse_chips.py``. Both read the
training set of a config through its :class:`~mmsniper.datasets.SniperDataset`
(annotations only for the statistics), with the config's ``sniper`` block applied as the
runner applies it, and plan chips with training's own planner
(:func:`mmsniper.chips.plan_epoch`); each chip's boxes are judged by the one assignment
``ChipGenerator`` makes (:func:`mmsniper.chips.assign_boxes` with the chip's ticket).
"""
from __future__ import annotations

import time
from typing import Any, Dict, Optional

import numpy as np

from ..chips import BoxAssignment, Chip, assign_boxes, plan_epoch, pyramid_pixels, scale_factor


def chip_assignment(dataset, boxes: np.ndarray, chip: Chip,
                    size: tuple) -> BoxAssignment:
    """What ``ChipGenerator`` decides for ``chip``'s boxes: the same ticket, the same call.

    ``boxes`` ``[N, 4]`` ORIGINAL pixels of the image of ``(w, h) = size``.
    """
    t = dataset.ticket(-1, chip)
    return assign_boxes(boxes, chip, t.valid_range, chip_size=t.chip_size,
                        min_size=t.min_size, min_visible=t.min_visible, image_size=size)


def build_sniper_dataset(config: str, cfg_options: Optional[dict] = None, lazy: bool = False,
                         strict: bool = False):
    """The ``SniperDataset`` of ``config``'s ``train_dataloader`` (no pipeline needed).

    Its build logs the annotation report once (bad annotations by kind, first ids);
    ``strict``: raise :class:`~mmsniper.annotations.AnnotationError` on data errors instead
    (``strict_annotations=True``, the tools' ``--strict``).
    """
    from mmdet.registry import DATASETS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mmsniper  # noqa: F401

    from ..engine.sniper_settings import apply_sniper_settings

    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg = apply_sniper_settings(cfg, config)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    ds_cfg = cfg.train_dataloader.dataset
    if ds_cfg.get('type') != 'SniperDataset':
        raise ValueError(f'{config}: train_dataloader.dataset is {ds_cfg.get("type")!r}, not '
                         "'SniperDataset': this config does not train with SNIPER chips")
    ds_cfg = ds_cfg.copy()
    ds_cfg['dataset'] = dict(ds_cfg['dataset'], pipeline=[])
    if strict:
        ds_cfg['strict_annotations'] = True
    return DATASETS.build(dict(ds_cfg, lazy_init=lazy))


def compute_chip_stats(dataset, seed: int = 0, epoch: int = 0,
                       max_images: Optional[int] = None, progress: bool = True
                       ) -> Dict[str, Any]:
    """Chips per image and level, pixels against single-scale and the full pyramid, and the
    share of boxes each level covers (trains on) or ignores, for one epoch's plan.

    A box counts as *covered* at a level when it is valid in at least one chip of that level
    (in range, not a sliver), *ignored* when it appears in a chip of that level but is
    valid in none of them.

    Returns:
        dict: ``images``, ``boxes``, ``levels`` (per level: ``chips_per_image``,
        ``covered_share``, ``ignored_share``, ``valid_range``), ``neg_chips_per_image``,
        pixel totals and ratios, ``seconds``.
    """
    from mmengine.utils import ProgressBar

    dataset.full_init()
    n = len(dataset) if max_images is None else min(len(dataset), max_images)
    st = dataset.settings
    L = st.num_levels
    chips_per_level = np.zeros(L, np.int64)
    covered = np.zeros(L, np.int64)
    ignored = np.zeros(L, np.int64)
    n_boxes = n_neg = 0
    chip_px = single_px = pyr_px = 0.0
    bar = ProgressBar(n) if progress and n else None
    t0 = time.perf_counter()
    for i, plan in plan_epoch(dataset.boxes, st, seed, epoch, images=range(n),
                              proposals=dataset._proposals()):
        boxes, size = dataset.boxes.chip_boxes(i), dataset.boxes.image_size(i)
        n_boxes += len(boxes)
        n_neg += len(plan.negative)
        valid_at = np.zeros((L, len(boxes)), bool)
        shown_at = np.zeros((L, len(boxes)), bool)
        for c in plan.positive:
            chips_per_level[c.level] += 1
            a = chip_assignment(dataset, boxes, c, size)
            shown_at[c.level, a.index] = True
            valid_at[c.level, a.index[a.valid]] = True
        covered += valid_at.sum(1)
        ignored += (shown_at & ~valid_at).sum(1)
        chip_px += (len(plan.positive) + len(plan.negative)) * st.chip_size ** 2
        s = scale_factor(size, dataset.single_scale)
        single_px += size[0] * size[1] * s * s
        pyr_px += pyramid_pixels(size, st.scales)
        if bar is not None:
            bar.update()
    secs = time.perf_counter() - t0
    if bar is not None:
        print()
    denom = max(n_boxes, 1)
    return dict(
        images=n, boxes=int(n_boxes), chip_size=st.chip_size,
        scales=[list(s) if isinstance(s, tuple) else s for s in st.scales],
        single_scale=list(dataset.single_scale) if isinstance(dataset.single_scale, tuple)
        else dataset.single_scale,
        levels=[dict(level=lvl, chips_per_image=float(chips_per_level[lvl] / max(n, 1)),
                     covered_share=float(covered[lvl] / denom),
                     ignored_share=float(ignored[lvl] / denom),
                     valid_range=[float(v) for v in st.train_bounds[lvl]])
                for lvl in range(L)],
        neg_chips_per_image=float(n_neg / max(n, 1)),
        chip_mpix_per_image=chip_px / max(n, 1) / 1e6,
        single_scale_mpix_per_image=single_px / max(n, 1) / 1e6,
        pyramid_mpix_per_image=pyr_px / max(n, 1) / 1e6,
        ratio_to_single_scale=chip_px / single_px if single_px else 0.0,
        ratio_to_pyramid=chip_px / pyr_px if pyr_px else 0.0,
        seconds=secs, ms_per_image=1000 * secs / max(n, 1))


def format_chip_stats(st: Dict[str, Any]) -> str:
    """A terminal table of :func:`compute_chip_stats`' result."""
    rows = [f'{st["images"]} images, {st["boxes"]} boxes, chips {st["chip_size"]}x'
            f'{st["chip_size"]}, planned in {st["seconds"]:.1f} s ({st["ms_per_image"]:.2f} '
            'ms/image)', '',
            f'{"level":>5} {"scale":>14} {"valid range":>16} {"chips/img":>10} '
            f'{"covered":>8} {"ignored":>8}']
    for lv in st['levels']:
        lo, hi = lv['valid_range']
        rng = f'[{lo:g}, {hi:g})'
        rows.append(f'{lv["level"]:>5} {str(st["scales"][lv["level"]]):>14} {rng:>16} '
                    f'{lv["chips_per_image"]:>10.2f} {100 * lv["covered_share"]:>7.1f}% '
                    f'{100 * lv["ignored_share"]:>7.1f}%')
    rows += ['', f'negative chips per image: {st["neg_chips_per_image"]:.2f}',
             f'pixels per image: chips {st["chip_mpix_per_image"]:.3f} MP | single-scale '
             f'{st["single_scale"]} {st["single_scale_mpix_per_image"]:.3f} MP | full pyramid '
             f'{st["pyramid_mpix_per_image"]:.3f} MP',
             f'chips / single-scale = {st["ratio_to_single_scale"]:.2f}x, chips / pyramid = '
             f'{st["ratio_to_pyramid"]:.2f}x']
    return '\n'.join(rows)

