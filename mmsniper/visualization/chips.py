"""Pictures of the chips SNIPER trains on (``tools/analysis_tools/browse_chips.py``).

Each picture shows an image's chips per level with the boxes each chip trains on, judged
by the one assignment ``ChipGenerator`` makes
(:func:`mmsniper.datasets.chip_stats.chip_assignment`). Boxes and chips are drawn in
ORIGINAL pixels times the picture's factor.
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Any, Dict, List, Optional

import numpy as np

from ..annotations import size_mismatch
from ..chips import Chip, scale_factor
from ..datasets.chip_stats import chip_assignment

_LEVEL_COLOURS = [(255, 128, 0), (0, 200, 255), (200, 0, 255), (255, 255, 0), (0, 128, 255)]
_VALID, _IGNORED = (0, 220, 0), (0, 0, 255)   # BGR


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
