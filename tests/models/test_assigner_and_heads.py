"""Ignore-aware assigner and the range-aware proposal filter."""
from __future__ import annotations

import torch
from mmdet.models.task_modules.assigners import MaxIoUAssigner
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmsniper.models import SniperMaxIoUAssigner, filter_proposals_by_range

PRIORS = torch.tensor([[0, 0, 10, 10],      # inside the ignored box
                       [50, 50, 60, 60],    # far from everything
                       [20, 20, 30, 30]], dtype=torch.float32)


def inst(boxes, labels=None):
    d = InstanceData()
    d.bboxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    d.labels = torch.tensor(labels if labels is not None else [0] * len(d.bboxes)).long()
    return d


def assign(assigner, gts, ignored):
    pred = InstanceData(priors=PRIORS.clone())
    return assigner.assign(pred, gts, ignored).gt_inds.tolist()


def test_all_ignored_chip_does_not_teach_background():
    kw = dict(pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3, ignore_iof_thr=0.5)
    ignored = inst([[0, 0, 12, 12]])
    # mmdet's assigner: no valid box -> everything background, the ignored box included.
    assert assign(MaxIoUAssigner(**kw), inst([]), ignored) == [0, 0, 0]
    # mmsniper's: the prior on the ignored box is neither positive nor negative.
    assert assign(SniperMaxIoUAssigner(**kw), inst([]), ignored) == [-1, 0, 0]


def test_iou_metric_and_valid_boxes_win():
    kw = dict(pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3, ignore_iof_thr=0.3,
              ignore_metric='iou')
    a = SniperMaxIoUAssigner(**kw)
    ignored = inst([[0, 0, 12, 12], [19, 19, 31, 31]])
    gts = inst([[20, 20, 30, 30]])       # valid box exactly on prior 2
    assert assign(a, gts, ignored) == [-1, 0, 1]
    # IoU 0.69 > 0.3 ignores prior 0, but a large box containing it (IoU < 0.3) does not.
    assert assign(a, inst([]), inst([[0, 0, 40, 40]])) == [0, 0, 0]
    iof = SniperMaxIoUAssigner(**dict(kw, ignore_metric='iof'))
    assert assign(iof, inst([]), inst([[0, 0, 40, 40]])) == [-1, 0, -1]


def test_without_ignored_boxes_it_is_mmdets_assigner():
    kw = dict(pos_iou_thr=0.5, neg_iou_thr=0.3, min_pos_iou=0.3, ignore_iof_thr=0.5)
    gts = inst([[0, 0, 10, 11], [48, 50, 60, 60]])
    assert assign(SniperMaxIoUAssigner(**kw), gts, inst([])) == \
        assign(MaxIoUAssigner(**kw), gts, inst([]))


def test_proposals_outside_the_chip_range_are_dropped():
    res = InstanceData()
    # sizes in chip pixels 10, 40, 100 at chip scale 2 -> 5, 20, 50 original
    res.bboxes = torch.tensor([[0, 0, 10, 10], [0, 0, 40, 40], [0, 0, 100, 100]],
                              dtype=torch.float32)
    res.scores = torch.tensor([0.9, 0.8, 0.7])
    s = DetDataSample(metainfo=dict(chip_scale=2.0, chip_valid_range=(10.0, 50.0)))
    plain = DetDataSample(metainfo=dict(scale_factor=(1.0, 1.0)))
    kept, untouched = filter_proposals_by_range([res, res], [s, plain])
    assert kept.scores.tolist() == [0.800000011920929]
    assert len(untouched) == 3
