"""Pictures of inference results (``tools/infer.py``): detections and AutoFocus maps.

Everything is drawn on a BGR ``uint8`` image in ORIGINAL pixels (the image file's), with
OpenCV; no MMDetection here.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np


def _palette(n: int) -> list[tuple[int, int, int]]:
    rng = np.random.default_rng(12345)
    return [tuple(int(c) for c in rng.integers(64, 256, 3)) for _ in range(max(n, 1))]


def draw_detections(img: np.ndarray, bboxes: np.ndarray, scores: np.ndarray,
                    labels: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """A copy of ``img`` with each box drawn and captioned ``class score``.

    Args:
        img (ndarray[H, W, 3] uint8): BGR image, ORIGINAL pixels.
        bboxes (ndarray[K, 4] float): ``(x1, y1, x2, y2)`` in ORIGINAL pixels.
        scores (ndarray[K] float), labels (ndarray[K] int): per box.
        classes (Sequence[str]): names by label.

    Returns:
        ndarray[H, W, 3] uint8: the drawing.
    """
    import cv2

    out = np.ascontiguousarray(img.copy())
    colors = _palette(len(classes))
    thick = max(1, round(max(out.shape[:2]) / 600))
    font = 0.4 * thick
    for (x1, y1, x2, y2), s, lb in zip(bboxes.tolist(), scores.tolist(), labels.tolist()):
        color = colors[lb % len(colors)]
        p1, p2 = (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2)))
        cv2.rectangle(out, p1, p2, color, thick)
        name = classes[lb] if 0 <= lb < len(classes) else str(lb)
        cv2.putText(out, f'{name} {s:.2f}', (p1[0], max(p1[1] - 3 * thick, 10 * thick)),
                    cv2.FONT_HERSHEY_SIMPLEX, font, color, max(1, thick // 2), cv2.LINE_AA)
    return out


def draw_focus(img: np.ndarray, focus: Any, img_shape: Sequence[int],
               chips: Mapping[int, np.ndarray] | None = None) -> np.ndarray:
    """A copy of ``img`` with a FocusPixel map as a red overlay and FocusChips drawn.

    Args:
        img (ndarray[H, W, 3] uint8): BGR image, ORIGINAL pixels.
        focus (PixelData): ``data`` Tensor[1, gh, gw] probabilities of the cells of a
            scaled image of ``img_shape``, metainfo ``stride`` (``pred_focus``).
        img_shape (tuple[int, int]): ``(h, w)`` of that scaled image.
        chips (dict, optional): ``pyramid_level -> ndarray[K, 4]`` FocusChips in ORIGINAL
            pixels (``autofocus_chips``); each level in its own colour, captioned ``L<level>``.

    Returns:
        ndarray[H, W, 3] uint8: the drawing.
    """
    import cv2

    h, w = img.shape[:2]
    stride = int(focus.metainfo.get('stride', 16))
    prob = focus.data[0].detach().cpu().numpy().astype(np.float32)
    sh, sw = int(img_shape[0]), int(img_shape[1])
    # Cells -> scaled pixels (each cell stride x stride, cut to the image) -> ORIGINAL.
    scaled = np.kron(prob, np.ones((stride, stride), np.float32))[:sh, :sw]
    heat = cv2.resize(scaled, (w, h), interpolation=cv2.INTER_NEAREST)
    out = np.ascontiguousarray(img.copy()).astype(np.float32)
    alpha = 0.6 * np.clip(heat, 0, 1)[:, :, None]
    out = (out * (1 - alpha) + np.array([0, 0, 255], np.float32) * alpha).astype(np.uint8)
    thick = max(1, round(max(h, w) / 600))
    colors = [(255, 255, 0), (0, 255, 0), (255, 0, 255), (0, 255, 255)]
    for k, (level, wins) in enumerate(sorted((chips or {}).items())):
        color = colors[k % len(colors)]
        for x1, y1, x2, y2 in np.asarray(wins).reshape(-1, 4).tolist():
            p1, p2 = (int(round(x1)), int(round(y1))), (int(round(x2)) - 1, int(round(y2)) - 1)
            cv2.rectangle(out, p1, p2, color, thick)
            cv2.putText(out, f'L{level}', (p1[0] + 2 * thick, p1[1] + 12 * thick),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick, color, max(1, thick // 2),
                        cv2.LINE_AA)
    return out
