"""SAHI's postprocess as mmsniper mergers: the same output as ``sahi.postprocess`` itself.

Fixed hand-made cases, random clusters and the detections of a real (random-weight)
detector, for every postprocess type, both match metrics and both class modes.
"""
from __future__ import annotations

import itertools
import os.path as osp

import numpy as np
import pytest
import torch
from sahi.postprocess import combine
from sahi.prediction import ObjectPrediction

from mmsniper.chips.match_merge import match_merge, matching_pairs
from mmsniper.models import MERGERS, GreedyNMMMerger, MatchNMSMerger, NMMMerger, build_merger

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
OURS = {'NMS': MatchNMSMerger, 'GREEDYNMM': GreedyNMMMerger, 'NMM': NMMMerger}
THEIRS = {'NMS': combine.NMSPostprocess, 'GREEDYNMM': combine.GreedyNMMPostprocess,
          'NMM': combine.NMMPostprocess}
SETTINGS = list(itertools.product(('NMS', 'GREEDYNMM', 'NMM'), ('IOU', 'IOS'), (False, True)))


def sahi_merge(kind, metric, thr, agnostic, boxes, scores, labels):
    preds = [ObjectPrediction(bbox=b, score=float(s), category_id=int(c),
                              category_name=str(int(c)))
             for b, s, c in zip(np.asarray(boxes, np.float64).tolist(), scores, labels)]
    out = THEIRS[kind](match_threshold=thr, match_metric=metric, class_agnostic=agnostic)(preds)
    return rows([p.bbox.to_xyxy() for p in out], [p.score.value for p in out],
                [p.category.id for p in out])


def our_merge(kind, metric, thr, agnostic, boxes, scores, labels):
    merger = OURS[kind](match_metric=metric, match_threshold=thr, class_agnostic=agnostic)
    b, s, lb = merger(torch.as_tensor(np.asarray(boxes, np.float64)),
                      torch.as_tensor(np.asarray(scores, np.float64)),
                      torch.as_tensor(np.asarray(labels, np.int64)))
    return rows(b.tolist(), s.tolist(), lb.tolist())


def rows(boxes, scores, labels):
    return sorted((tuple(round(v, 4) for v in b), round(float(s), 6), int(c))
                  for b, s, c in zip(boxes, scores, labels))


# A (score .9) and B (.8) overlap with IoU 90/110 = 0.82; C (.7) lies inside A and B's
# union but matches A only by IoS; D (.6) chains from C; FAR is alone; E repeats A with
# another label.
A, B = [10., 10., 20., 20.], [11., 10., 21., 20.]
C, D = [18., 12., 22., 16.], [21., 12., 25., 16.]
FAR, E = [50., 50., 60., 60.], [10., 10., 20., 20.]
FIXED = ([A, B, C, D, FAR, E], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4], [0, 0, 0, 0, 0, 1])


@pytest.mark.parametrize('kind,metric,agnostic', SETTINGS)
def test_fixed_boxes_equal_sahi(kind, metric, agnostic):
    for thr in (0.3, 0.5, 0.8):
        assert our_merge(kind, metric, thr, agnostic, *FIXED) == \
            sahi_merge(kind, metric, thr, agnostic, *FIXED), (thr,)


def test_fixed_boxes_known_answers():
    # IoS 0.5, per class: A takes B (IoS 0.9) and C (IoS 8 / 16, exactly the threshold);
    # merged in order: A + B = (10, 10, 21, 20), which C still matches (12 / 16): the box
    # grows to (10, 10, 22, 20). D touches C by IoS 4 / 16 < 0.5; E is another class.
    out = our_merge('GREEDYNMM', 'IOS', 0.5, False, *FIXED)
    assert out == [((10, 10, 20, 20), 0.4, 1), ((10, 10, 22, 20), 0.9, 0),
                   ((21, 12, 25, 16), 0.6, 0), ((50, 50, 60, 60), 0.5, 0)]
    nms = our_merge('NMS', 'IOS', 0.5, False, *FIXED)
    assert [r[0] for r in nms] == [(10, 10, 20, 20), (10, 10, 20, 20), (21, 12, 25, 16),
                                   (50, 50, 60, 60)]


def clusters(n, seed, classes=3, side=300.0):
    rng = np.random.default_rng(seed)
    k = max(1, n // 4)
    centres = rng.random((k, 2)) * side
    size = rng.uniform(8, 40, (k, 1))
    obj = rng.integers(0, k, n)
    c = centres[obj] + rng.normal(0, 1, (n, 2)) * size[obj] * 0.15
    half = size[obj] / 2 * rng.uniform(0.6, 1.4, (n, 2))
    boxes = np.concatenate([c - half, c + half], 1).clip(0, side + 50)
    return boxes, rng.random(n), rng.integers(0, classes, n)


@pytest.mark.parametrize('kind,metric,agnostic', SETTINGS)
def test_random_clusters_equal_sahi(kind, metric, agnostic):
    for seed in range(3):
        boxes, scores, labels = clusters(150, seed)
        for thr in (0.25, 0.5):
            assert our_merge(kind, metric, thr, agnostic, boxes, scores, labels) == \
                sahi_merge(kind, metric, thr, agnostic, boxes, scores, labels), (seed, thr)


def test_score_ties_follow_sahi_order():
    # Equal scores: SAHI orders by x1, y1, x2, y2 and NMM never merges two different
    # boxes of one score; exact duplicates do merge.
    boxes = [[10, 10, 20, 20], [12, 10, 22, 20], [10, 10, 20, 20], [11, 11, 21, 21]]
    scores, labels = [0.5, 0.5, 0.5, 0.5], [0, 0, 0, 0]
    for kind, metric in itertools.product(OURS, ('IOU', 'IOS')):
        assert our_merge(kind, metric, 0.5, False, boxes, scores, labels) == \
            sahi_merge(kind, metric, 0.5, False, boxes, scores, labels), (kind, metric)


def brute_force_pairs(b32, labels, metric, thr):
    lt = np.maximum(b32[:, None, :2], b32[None, :, :2])
    rb = np.minimum(b32[:, None, 2:], b32[None, :, 2:])
    inter = np.prod(np.maximum(rb - lt, 0), -1)
    area = np.prod(b32[:, 2:] - b32[:, :2], -1)
    den = area[:, None] + area[None, :] - inter if metric == 'IOU' else \
        np.minimum(area[:, None], area[None, :])
    with np.errstate(divide='ignore', invalid='ignore'):
        m = np.where(den > 0, inter / den, 0)
    i, j = np.nonzero(np.triu(m >= np.float32(thr), 1) & (labels[:, None] == labels[None, :]))
    return set(zip(i.tolist(), j.tolist()))


@pytest.mark.parametrize('metric', ['IOU', 'IOS'])
def test_pair_search_finds_every_matching_pair(metric):
    boxes, _, labels = clusters(400, 7, classes=2)
    # Awkward cases for the strip sweep: exact copies, equal x1, touching sides, tall
    # boxes over many strips, a zero-width and an inverted box, far-off coordinates.
    extra = np.array([boxes[0], boxes[0], [boxes[1, 0], 5, boxes[1, 0] + 3, 9],
                      [boxes[1, 2], boxes[1, 1], boxes[1, 2] + 9, boxes[1, 3]],
                      [100, -50, 110, 400], [104, 0, 106, 380], [120, 10, 120, 30],
                      [130, 30, 125, 20], [1e5, 1e5, 1e5 + 20, 1e5 + 20],
                      [1e5 + 5, 1e5 + 5, 1e5 + 15, 1e5 + 15]])
    boxes = np.concatenate([boxes, extra])
    labels = np.concatenate([labels, [labels[0], 1 - labels[0], 0, labels[1], 0, 0, 0, 0, 1,
                                      1]])
    b32 = boxes.astype(np.float32)
    for thr in (0.01, 0.3, 0.5, 1.0):
        a, b = matching_pairs(b32, labels, metric, thr)
        got = list(zip(a.tolist(), b.tolist()))
        assert len(got) == len(set(got)), thr  # each pair once
        assert set(got) == brute_force_pairs(b32, labels, metric, thr), thr
        assert thr == 1.0 or len(got) > 100


def test_registry_config_and_bad_settings():
    m = MERGERS.build(dict(type='GreedyNMMMerger', match_metric='iou', match_threshold=0.6,
                           class_agnostic=True))
    assert isinstance(m, GreedyNMMMerger) and m.match_metric == 'IOU'
    assert isinstance(build_merger(dict(type='NMMMerger')), NMMMerger)
    with pytest.raises(ValueError, match='match_metric'):
        MatchNMSMerger(match_metric='GIOU')
    with pytest.raises(ValueError, match='match_threshold'):
        NMMMerger(match_threshold=0)
    empty = GreedyNMMMerger()(torch.zeros((0, 4)), torch.zeros(0),
                              torch.zeros(0, dtype=torch.long))
    assert [len(x) for x in empty] == [0, 0, 0]
    b, s, lb, idx = match_merge(np.array(FIXED[0]), np.array(FIXED[1]), np.array(FIXED[2]))
    assert np.all(np.diff(s) <= 0) and idx.tolist()[0] == 0  # by score; keeper A


@pytest.fixture(scope='module')
def real_detections():
    """The raw detections of a random-weight Faster R-CNN on a generated picture."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope

    from mmsniper.analysis.benchmark_sliced import tiled_test_image

    init_default_scope('mmdet')
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'scaleshapes', 'faster_r18_scaleshapes.py'))
    cfg.model.test_cfg.rcnn.update(score_thr=0.01, nms=dict(type='nms', iou_threshold=0.9))
    cfg.model.test_cfg.rpn.update(nms_pre=200, max_per_img=100)
    torch.manual_seed(0)
    det = MODELS.build(cfg.model)
    det.init_weights()
    det.eval()
    img = tiled_test_image(256, tile=128)
    data = dict(inputs=[torch.from_numpy(img).permute(2, 0, 1)],
                data_samples=[__import__('mmdet.structures', fromlist=['DetDataSample'])
                              .DetDataSample(metainfo=dict(img_shape=(256, 256),
                                                           ori_shape=(256, 256),
                                                           scale_factor=(1.0, 1.0)))])
    with torch.no_grad():
        pred = det.test_step(data)[0].pred_instances
    return (pred.bboxes.numpy().astype(np.float64), pred.scores.numpy().astype(np.float64),
            pred.labels.numpy())


@pytest.mark.parametrize('kind', ['NMS', 'GREEDYNMM', 'NMM'])
def test_real_detections_equal_sahi(real_detections, kind):
    boxes, scores, labels = real_detections
    assert len(boxes) > 50
    for metric, agnostic in itertools.product(('IOU', 'IOS'), (False, True)):
        ours = our_merge(kind, metric, 0.5, agnostic, boxes, scores, labels)
        assert ours == sahi_merge(kind, metric, 0.5, agnostic, boxes, scores, labels)
        assert len(ours) < len(boxes)
