"""SniperDetVisualizer: mmdet's pictures, captioned with which side is which and the threshold."""
from __future__ import annotations

import cv2
import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmsniper.visualization import SniperDetVisualizer, caption


def _sample() -> DetDataSample:
    s = DetDataSample()
    s.gt_instances = InstanceData(bboxes=torch.tensor([[10., 10., 40., 40.], [60, 20, 90, 70]]),
                                  labels=torch.tensor([0, 1]))
    s.pred_instances = InstanceData(
        bboxes=torch.tensor([[11., 10., 40., 41.], [60, 21, 90, 70], [5, 70, 30, 95]]),
        labels=torch.tensor([0, 1, 1]), scores=torch.tensor([0.9, 0.3, 0.2]))
    return s


def test_picture_has_captioned_panels_and_draws_only_passing_detections(tmp_path, monkeypatch):
    vis = SniperDetVisualizer(name='test_sniper_vis')
    vis.dataset_meta = dict(classes=('circle', 'square'), palette=[(220, 20, 60), (0, 0, 230)])
    drawn_counts = []
    real = vis._draw_instances

    def counting(image, instances, classes, palette):
        drawn_counts.append(len(instances))
        return real(image, instances, classes, palette)

    monkeypatch.setattr(vis, '_draw_instances', counting)
    image = np.full((100, 120, 3), 128, np.uint8)
    out = str(tmp_path / 'pic.jpg')
    vis.add_datasample('img', image, _sample(), out_file=out, pred_score_thr=0.3)
    assert drawn_counts == [2, 2]                     # ground truth; scores 0.9 and 0.3 only
    pic = cv2.imread(out)
    strip_h = max(18, 120 // 28)
    assert pic.shape == (100 + strip_h, 240, 3)       # two panels side by side, one caption strip
    strip = pic[:strip_h].astype(int)
    assert (strip > 240).mean() > 0.5 and (strip < 100).any()   # white strip with dark text
    # Each panel has its own text, and the caption strings name what they show.
    assert (strip[:, :120] < 100).any() and (strip[:, 120:] < 100).any()


def test_caption_text_differs_with_threshold():
    panel = np.zeros((50, 300, 3), np.uint8)
    a = caption(panel, 'detections with score >= 0.3: 2')
    b = caption(panel, 'detections with score >= 0.5: 1')
    assert a.shape == (50 + 18, 300, 3) and not np.array_equal(a, b)
    assert np.array_equal(a[18:], panel)             # the panel itself is untouched
