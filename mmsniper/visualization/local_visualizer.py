"""``SniperDetVisualizer``: MMDetection's detection pictures, captioned with what they show."""
from __future__ import annotations

from typing import Optional

import cv2
import mmcv
import numpy as np
from mmdet.registry import VISUALIZERS
from mmdet.structures import DetDataSample
from mmdet.visualization import DetLocalVisualizer

__all__ = ['SniperDetVisualizer']


def caption(panel: np.ndarray, text: str) -> np.ndarray:
    """``panel`` (``uint8[H, W, 3]``, RGB) with a white strip and ``text`` above it."""
    h = max(18, panel.shape[1] // 28)
    strip = np.full((h, panel.shape[1], 3), 255, np.uint8)
    scale = h / 40.0
    cv2.putText(strip, text, (6, int(h * 0.72)), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0),
                max(1, int(round(scale * 2))), cv2.LINE_AA)
    return np.concatenate([strip, panel], axis=0)


@VISUALIZERS.register_module()
class SniperDetVisualizer(DetLocalVisualizer):
    """``DetLocalVisualizer`` whose side-by-side pictures say which side is which and what
    score a drawn detection passed.

    Why it exists: mmdet draws ground truth on the left and detections on the right of one
    picture with no word on either, and the score threshold that decided which detections
    are drawn (``--show-dir`` uses the visualization hook's ``score_thr``) appears nowhere,
    so a reader cannot tell a weak detector from a strict threshold. Each panel gets a
    caption: ``ground truth: N objects`` and ``detections with score >= T: M``. Boxes,
    masks, labels and colours are mmdet's (``_draw_instances``); pictures with semantic or
    panoptic predictions are left to mmdet unchanged.

    Args: those of ``DetLocalVisualizer``.
    """

    def add_datasample(self, name: str, image: np.ndarray,
                       data_sample: Optional[DetDataSample] = None, draw_gt: bool = True,
                       draw_pred: bool = True, show: bool = False, wait_time: float = 0,
                       out_file: Optional[str] = None, pred_score_thr: float = 0.3,
                       step: int = 0) -> None:
        if data_sample is None or any(k in data_sample
                                      for k in ('pred_sem_seg', 'pred_panoptic_seg')):
            return super().add_datasample(name, image, data_sample, draw_gt, draw_pred, show,
                                          wait_time, out_file, pred_score_thr, step)
        image = image.clip(0, 255).astype(np.uint8)
        classes = self.dataset_meta.get('classes', None)
        palette = self.dataset_meta.get('palette', None)
        data_sample = data_sample.cpu()
        panels = []
        if draw_gt and 'gt_instances' in data_sample:
            gt = data_sample.gt_instances
            panels.append(caption(self._draw_instances(image, gt, classes, palette),
                                  f'ground truth: {len(gt)} objects'))
        if draw_pred and 'pred_instances' in data_sample:
            pred = data_sample.pred_instances
            pred = pred[pred.scores >= pred_score_thr]
            panels.append(caption(self._draw_instances(image, pred, classes, palette),
                                  f'detections with score >= {pred_score_thr:g}: {len(pred)}'))
        drawn = np.concatenate(panels, axis=1) if panels else image
        self.set_image(drawn)
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(drawn[..., ::-1], out_file)
        else:
            self.add_image(name, drawn, step)
