"""What SNIPER will train on, before training: chip statistics and pictures of chips.

Behind ``tools/analysis_tools/chip_stats.py`` and ``tools/analysis_tools/browse_chips.py``.
Both read the training set of a config through its :class:`~mmsniper.datasets.SniperDataset`
(annotations only for the statistics), with the config's ``sniper`` block applied as the
runner applies it, and plan chips with training's own planner
(:func:`mmsniper.chips.plan_epoch`); each chip's boxes are judged by the one assignment
``ChipGenerator`` makes (:func:`mmsniper.chips.assign_boxes` with the chip's ticket).
"""
from __future__ import annotations

import os
import os.path as osp
import time
from typing import Any, Dict, List, Optional

import numpy as np

from ..annotations import size_mismatch
from ..chips import BoxAssignment, Chip, assign_boxes, plan_epoch, pyramid_pixels, scale_factor

_LEVEL_COLOURS = [(255, 128, 0), (0, 200, 255), (200, 0, 255), (255, 255, 0), (0, 128, 255)]
_VALID, _IGNORED = (0, 220, 0), (0, 0, 255)   # BGR


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


def _instance_masks(dataset, idx: int, n: int) -> Optional[list]:
    """The ``segmentation`` of image ``idx``'s instances, aligned with its ``n`` planning
    boxes (None: no masks, or not aligned)."""
    info = dataset.get_data_info(idx)
    inst = info.get('instances', [])
    keep = getattr(dataset, '_dropped_instances', {}).get(idx)
    if keep is not None:
        inst = [x for x, k in zip(inst, keep) if k]
    if len(inst) != n or not any('mask' in x for x in inst):
        return None
    return [x.get('mask') for x in inst]


def _fill_mask(panel: np.ndarray, seg: Any, f: float, colour: tuple, hw: tuple) -> None:
    """Blend one COCO mask (polygons, ORIGINAL pixels, or RLE) into ``panel`` (scaled by
    ``f``), half transparent. Malformed masks are skipped (the audit names them)."""
    import cv2

    from ..annotations import segmentation_problem

    if seg is None or segmentation_problem(seg, hw[1], hw[0]):
        return
    region = np.zeros(panel.shape[:2], np.uint8)
    if isinstance(seg, list):
        pts = [np.round(np.asarray(p, np.float64).reshape(-1, 2) * f * 8).astype(np.int32)
               for p in seg]
        cv2.fillPoly(region, pts, 1, lineType=cv2.LINE_AA, shift=3)
    else:
        from pycocotools import mask as mask_utils

        rle = mask_utils.frPyObjects(seg, *seg['size']) if isinstance(seg['counts'], list) \
            else seg
        m = mask_utils.decode(rle)
        region = cv2.resize(m, panel.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    on = region.astype(bool)
    panel[on] = (0.5 * panel[on] + 0.5 * np.asarray(colour)).astype(np.uint8)


def draw_image_chips(dataset, idx: int, rng: np.random.Generator,
                     max_side: int = 640, chips: Optional[List[Chip]] = None) -> np.ndarray:
    """One picture per image: a panel per level with that level's chips (solid: positive,
    dashed-looking thin: negative), the boxes valid at it (green) and ignored (red), and
    their instance masks filled in the same colours when the annotations have them
    (``segmentation``: the masks ``ChipGenerator`` cuts with each chip).

    Args:
        chips (list[Chip], optional): draw these chips (e.g. a batch's tickets) instead of
            the image's plan drawn with ``rng``.

    Returns:
        ndarray[H, W, 3] uint8 BGR.
    """
    import cv2

    info = dataset.get_data_info(idx)
    img = cv2.imread(info['img_path'])  # applies the EXIF orientation, as the pipeline
    if img is None:
        raise FileNotFoundError(f'image {info["img_path"]} (img_id {info.get("img_id")}) '
                                'could not be read')
    problem = size_mismatch(img.shape[1::-1], (info.get('width'), info.get('height')),
                            info['img_path'], info.get('img_id'))
    if problem:
        raise ValueError(problem)
    boxes, crowd, size = dataset.image_annotations(idx)
    masks = _instance_masks(dataset, idx, len(boxes))
    if chips is None:
        pos, negs = dataset.plan_image(idx, rng)
    else:
        pos = [c for c in chips if c.kind == 'pos']
        negs = [c for c in chips if c.kind != 'pos']
    f = min(1.0, max_side / max(img.shape[:2]))
    panels = []
    for level in range(dataset.settings.num_levels):
        p = cv2.resize(img, None, fx=f, fy=f) if f < 1 else img.copy()
        p = (p * 0.75).astype(np.uint8)
        valid = np.zeros(len(boxes), bool)
        shown = np.zeros(len(boxes), bool)
        for c in [c for c in pos + negs if c.level == level]:
            a = chip_assignment(dataset, boxes, c, size)
            shown[a.index] = True
            valid[a.index[a.valid]] = True
            x1, y1, x2, y2 = (int(round(v * f)) for v in c.box)
            colour = _LEVEL_COLOURS[level % len(_LEVEL_COLOURS)]
            cv2.rectangle(p, (x1, y1), (x2, y2), colour, 3 if c.kind == 'pos' else 1)
        for k, (b, v, sh, cr) in enumerate(zip(boxes, valid, shown, crowd)):
            if not sh:
                continue
            colour = _VALID if v and not cr else _IGNORED
            if masks is not None:
                _fill_mask(p, masks[k], f, colour, img.shape[:2])
            x1, y1, x2, y2 = (int(round(t * f)) for t in b)
            cv2.rectangle(p, (x1, y1), (x2, y2), colour, 1)
        s = scale_factor(size, dataset.settings.scales[level])
        label = (f'level {level}: x{s:.2f}, {sum(c.level == level for c in pos)} pos / '
                 f'{sum(c.level == level for c in negs)} neg chips')
        cv2.putText(p, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 2)
        panels.append(p)
    return np.concatenate(panels, axis=1)


def browse_chips(dataset, out_dir: str, num: int = 20, seed: int = 0,
                 indices: Optional[List[int]] = None) -> List[str]:
    """Write :func:`draw_image_chips` PNGs of ``num`` images (or ``indices``) to ``out_dir``."""
    import cv2
    from mmengine.utils import ProgressBar

    dataset.full_init()
    os.makedirs(out_dir, exist_ok=True)
    idxs = indices if indices is not None else list(range(min(num, len(dataset))))
    rng = np.random.default_rng(seed)
    written = []
    bar = ProgressBar(len(idxs))
    for i in idxs:
        pic = draw_image_chips(dataset, i, rng)
        img_id = dataset.get_data_info(i).get('img_id', i)
        path = osp.join(out_dir, f'chips_{img_id}.png')
        cv2.imwrite(path, pic)
        written.append(path)
        bar.update()
    print()
    return written


def browse_tickets(dataset, tickets_file: str, out_dir: str) -> List[str]:
    """Draw the chips of a tickets file (``NonFiniteLossHook``'s ``nonfinite_iter<N>.json``,
    or any JSON with ``tickets``: ``img_id`` / ``img_path``, ``chip`` ``(x1, y1, x2, y2)``
    ORIGINAL pixels, ``level``, ``scale``, ``kind``): one PNG per image, its listed chips on
    their levels' panels, ``ticket_<img_id>.png``."""
    import json

    import cv2

    with open(tickets_file) as f:
        record = json.load(f)
    tickets = record.get('tickets', record) if isinstance(record, dict) else record
    dataset.full_init()
    by_id, by_path = {}, {}
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        by_id[info.get('img_id')] = i
        by_path[osp.abspath(str(info.get('img_path')))] = i
    groups: Dict[int, List[Chip]] = {}
    for t in tickets:
        idx = by_id.get(t.get('img_id'), by_path.get(osp.abspath(str(t.get('img_path')))))
        if idx is None:
            raise KeyError(f'{tickets_file}: image {t.get("img_id")} ({t.get("img_path")}) is '
                           'not in this config\'s training set; pass the config that trained')
        chips = groups.setdefault(idx, [])
        if t.get('chip') is not None:
            chips.append(Chip(int(t['level']), float(t['scale']), tuple(t['chip']),
                              t.get('kind', 'pos')))
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for idx, chips in groups.items():
        pic = draw_image_chips(dataset, idx, np.random.default_rng(0), chips=chips)
        img_id = dataset.get_data_info(idx).get('img_id', idx)
        path = osp.join(out_dir, f'ticket_{img_id}.png')
        cv2.imwrite(path, pic)
        written.append(path)
    return written
