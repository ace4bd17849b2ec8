"""Ground truth beside the detections of several models, found and missed marked
(``tools/analysis_tools/airbus_compare.py``'s pictures).

Drawn with OpenCV on BGR ``uint8`` images; every box in ORIGINAL pixels (the image file's).
"""
from __future__ import annotations

from typing import Mapping, Sequence, Tuple

import numpy as np

FOUND, MISSED, FALSE = (60, 200, 60), (40, 40, 230), (0, 165, 255)  # BGR
GT_COLOUR = (255, 200, 0)


def match_found(gt: np.ndarray, dets: np.ndarray, iou_thr: float = 0.5
                ) -> Tuple[np.ndarray, np.ndarray]:
    """Greedy one-to-one matching, detections in the given order (sort them by score).

    Args:
        gt (ndarray[G, 4]): ground truth ``(x1, y1, x2, y2)``, ORIGINAL pixels.
        dets (ndarray[D, 4]): detections, same frame.
        iou_thr (float): least IoU of a match.

    Returns:
        tuple: ``found`` (ndarray[G] bool: the ground-truth box was matched) and ``true``
        (ndarray[D] bool: the detection matched a ground-truth box).
    """
    gt = np.asarray(gt, np.float64).reshape(-1, 4)
    dets = np.asarray(dets, np.float64).reshape(-1, 4)
    found, true = np.zeros(len(gt), bool), np.zeros(len(dets), bool)
    if len(gt) and len(dets):
        from pycocotools import mask as mask_utils

        def xywh(b: np.ndarray) -> np.ndarray:
            return np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)

        iou = np.asarray(mask_utils.iou(xywh(dets), xywh(gt), [0] * len(gt))).reshape(
            len(dets), len(gt))
        for d in range(len(dets)):
            cand = np.where(~found & (iou[d] >= iou_thr))[0]
            if cand.size:
                g = cand[np.argmax(iou[d, cand])]
                found[g], true[d] = True, True
    return found, true


def draw_comparison(img: np.ndarray, gt: np.ndarray,
                    panels: Mapping[str, Tuple[np.ndarray, np.ndarray]],
                    score_thr: float = 0.3, iou_thr: float = 0.5,
                    width: int = 900) -> np.ndarray:
    """``ground truth | panel 1 | panel 2 ...`` side by side, each resized to ``width``.

    The ground-truth panel draws every box; each model's panel draws, of its detections
    scoring at least ``score_thr``, the true ones (green) and the false ones (orange), and
    the ground-truth boxes it missed (red). Captions count them.

    Args:
        img (ndarray[H, W, 3] uint8): BGR image, ORIGINAL pixels.
        gt (ndarray[G, 4]): ground truth ``(x1, y1, x2, y2)``, ORIGINAL pixels.
        panels (Mapping[str, tuple]): title -> ``(boxes ndarray[D, 4] (x1, y1, x2, y2)
            ORIGINAL pixels, scores ndarray[D])``.
        score_thr (float): least score of a drawn detection.
        iou_thr (float): least IoU of a found object.
        width (int): side of each panel in the picture.

    Returns:
        ndarray[h, width * (1 + len(panels)), 3] uint8.
    """
    import cv2

    gt = np.asarray(gt, np.float64).reshape(-1, 4)
    scale = width / max(img.shape[:2])
    small = cv2.resize(img, (round(img.shape[1] * scale), round(img.shape[0] * scale)),
                       interpolation=cv2.INTER_AREA)

    def box(canvas: np.ndarray, b: Sequence[float], colour: Tuple[int, int, int]) -> None:
        x1, y1, x2, y2 = (int(round(v * scale)) for v in b)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, 2)

    def title(canvas: np.ndarray, text: str) -> np.ndarray:
        bar = np.full((28, canvas.shape[1], 3), 255, np.uint8)
        cv2.putText(bar, text, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1,
                    cv2.LINE_AA)
        return np.concatenate([bar, canvas])

    out = [small.copy()]
    for b in gt:
        box(out[0], b, GT_COLOUR)
    out[0] = title(out[0], f'ground truth: {len(gt)} aircraft')
    for name, (boxes, scores) in panels.items():
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        scores = np.asarray(scores, np.float64).reshape(-1)
        keep = np.argsort(-scores, kind='stable')
        keep = keep[scores[keep] >= score_thr]
        found, true = match_found(gt, boxes[keep], iou_thr)
        canvas = small.copy()
        for b in gt[~found]:
            box(canvas, b, MISSED)
        for b, t in zip(boxes[keep], true):
            box(canvas, b, FOUND if t else FALSE)
        out.append(title(canvas, f'{name}: found {int(found.sum())}, missed '
                                 f'{int((~found).sum())}, false {int((~true).sum())} '
                                 f'(score >= {score_thr:g})'))
    return np.concatenate(out, axis=1)
