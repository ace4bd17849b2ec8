"""COCO AP by object size in bands of one's own choosing, at ORIGINAL resolution.

COCO's small / medium / large (areas below 32^2, 32^2-96^2, above 96^2) fit COCO's
images; on 2560 x 2560 satellite images with aircraft of 29-225 px they lump most objects
into "large". Here pycocotools' ``COCOeval`` runs with ``params.areaRng`` set to the bands
asked for (``sqrt(area)`` limits in ORIGINAL pixels of the annotation file), everything else
COCO's (IoU 0.50:0.95, 100 detections per image). A ground-truth box outside a band is
ignored for that band's AP, a detection outside it too unless matched: pycocotools' rules.
"""
from __future__ import annotations

import contextlib
import io
import json
from typing import Any, Dict, List, Sequence, Tuple, Union

import numpy as np

#: Default bands, ``sqrt(w * h)`` in ORIGINAL pixels: under 64, 64-128, over 128.
DEFAULT_BANDS: Tuple[Tuple[float, float], ...] = ((0, 64), (64, 128), (128, float('inf')))


def band_name(lo: float, hi: float) -> str:
    """``'<64'``, ``'64-128'``, ``'>128'``: the short name of a band (for keys and tables)."""
    if lo <= 0:
        return f'<{hi:g}'
    if hi == float('inf'):
        return f'>{lo:g}'
    return f'{lo:g}-{hi:g}'


def coco_ap_by_size(gt: Union[str, dict], dets: Union[str, List[dict]],
                    bands: Sequence[Tuple[float, float]] = DEFAULT_BANDS) -> Dict[str, float]:
    """AP, AP50, AP75 and AP per size band, in percent.

    Args:
        gt (str | dict): a COCO annotation file (path or its content); boxes ``[x, y, w, h]``
            in ORIGINAL pixels.
        dets (str | list[dict]): COCO detection results (path of a ``*.bbox.json`` as
            MMDetection's ``CocoMetric(outfile_prefix=...)`` writes it, or the list):
            ``image_id``, ``category_id``, ``bbox`` ``[x, y, w, h]`` ORIGINAL pixels, ``score``.
        bands (Sequence[tuple[float, float]]): ``(low, high)`` limits of ``sqrt(area)``,
            ORIGINAL pixels (``inf`` for open).

    Returns:
        dict: ``AP``, ``AP50``, ``AP75`` and ``AP_<band name>`` (e.g. ``AP_<64``), percent;
        -100 where the band has no ground truth (pycocotools' -1); ``gt_<band name>`` the
        number of ground-truth boxes in the band. No detections at all: every AP is 0.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    data = gt if isinstance(gt, dict) else json.load(open(gt))
    data = dict(data, info=data.get('info', {}), licenses=data.get('licenses', []))
    if isinstance(dets, str):
        with open(dets) as f:
            dets = json.load(f)
    for i, b in enumerate(bands):
        if not 0 <= b[0] < b[1]:
            raise ValueError(f'bands[{i}] = {b}: expected 0 <= low < high')
    sizes = np.sqrt([a['bbox'][2] * a['bbox'][3] for a in data['annotations']])
    counts = {f'gt_{band_name(lo, hi)}': int(((sizes >= lo) & (sizes < hi)).sum())
              for lo, hi in bands}
    if not dets:
        out = dict(AP=0.0, AP50=0.0, AP75=0.0)
        out.update({f'AP_{band_name(lo, hi)}': 0.0 if counts[f'gt_{band_name(lo, hi)}']
                    else -100.0 for lo, hi in bands})
        return {**out, **counts}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        coco = COCO()
        coco.dataset = data
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(list(dets)), 'bbox')
        ev.params.areaRng = [[0, 1e10]] + [[lo ** 2, min(hi ** 2, 1e10)] for lo, hi in bands]
        ev.params.areaRngLbl = ['all'] + [band_name(lo, hi) for lo, hi in bands]
        ev.evaluate()
        ev.accumulate()
    prec = ev.eval['precision']  # [T iou, R recall, K class, A area, M maxDets]
    m = len(ev.params.maxDets) - 1

    def ap(area: int, iou: Any = slice(None)) -> float:
        p = prec[iou, :, :, area, m]
        p = p[p > -1]
        return round(100.0 * float(p.mean()), 2) if p.size else -100.0

    iou = list(np.round(ev.params.iouThrs, 2))
    out = dict(AP=ap(0), AP50=ap(0, iou.index(0.5)), AP75=ap(0, iou.index(0.75)))
    for k, (lo, hi) in enumerate(bands, 1):
        out[f'AP_{band_name(lo, hi)}'] = ap(k)
    return {**out, **counts}
