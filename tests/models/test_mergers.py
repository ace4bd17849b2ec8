"""Box mergers on hand-made boxes with known answers, and the merger registry."""
from __future__ import annotations

import math

import pytest
import torch

from mmsniper.models import MERGERS, BoxVotingMerger, NMSMerger, SoftNMSMerger, build_merger

# A and B overlap: IoU([0,0,10,10], [1,0,11,10]) = 90 / 110.
A, B = [0., 0., 10., 10.], [1., 0., 11., 10.]
IOU_AB = 90 / 110
FAR = [50., 50., 60., 60.]


def t(x, dtype=torch.float32):
    return torch.tensor(x, dtype=dtype)


def lab(x):
    return torch.tensor(x, dtype=torch.long)


def as_rows(boxes, scores, labels):
    return [(tuple(round(v, 4) for v in b), round(float(s), 5), int(lb))
            for b, s, lb in zip(boxes.tolist(), scores.tolist(), labels.tolist())]


def test_nms_suppresses_overlap_keeps_far_and_other_class():
    boxes = t([A, B, FAR, A])
    scores = t([0.9, 0.8, 0.7, 0.6])
    labels = lab([0, 0, 0, 1])
    out = NMSMerger(iou_threshold=0.5)(boxes, scores, labels)
    assert as_rows(*out) == [((0, 0, 10, 10), 0.9, 0), ((50, 50, 60, 60), 0.7, 0),
                             ((0, 0, 10, 10), 0.6, 1)]
    # Above the overlap, nothing is suppressed.
    out = NMSMerger(iou_threshold=0.85)(boxes, scores, labels)
    assert len(out[0]) == 4


def test_same_boxes_different_labels_all_survive_every_merger():
    boxes, scores, labels = t([A, A, A]), t([0.9, 0.8, 0.7]), lab([0, 1, 2])
    for merger in (NMSMerger(), SoftNMSMerger(method='gaussian', sigma=0.55),
                   SoftNMSMerger(method='linear'), BoxVotingMerger()):
        b, s, lb = merger(boxes, scores, labels)
        assert lb.tolist() == [0, 1, 2], merger
        assert s.tolist() == pytest.approx([0.9, 0.8, 0.7]), merger  # no decay across labels
        assert torch.equal(b, boxes), merger


def test_soft_nms_gaussian_decay_is_exact():
    boxes, scores, labels = t([A, B, FAR]), t([0.9, 0.6, 0.3]), lab([0, 0, 0])
    b, s, lb = SoftNMSMerger(method='gaussian', sigma=0.55, min_score=0.001)(
        boxes, scores, labels)
    expected_b = 0.6 * math.exp(-IOU_AB ** 2 / 0.55)  # 0.1776...
    assert s.tolist() == pytest.approx([0.9, 0.3, expected_b], rel=1e-5)
    # Coordinates are untouched; the order is by the decayed score.
    assert b.tolist() == [A, FAR, B]


def test_soft_nms_linear_decays_only_above_threshold():
    c = [2., 0., 12., 10.]  # IoU(A, C) = 80 / 120 = 2/3
    boxes, scores, labels = t([A, c]), t([0.9, 0.6]), lab([0, 0])
    _, s, _ = SoftNMSMerger(method='linear', iou_threshold=0.5)(boxes, scores, labels)
    assert s.tolist() == pytest.approx([0.9, 0.6 * (1 - 2 / 3)], rel=1e-5)
    _, s, _ = SoftNMSMerger(method='linear', iou_threshold=0.7)(boxes, scores, labels)
    assert s.tolist() == pytest.approx([0.9, 0.6], rel=1e-6)


def test_soft_nms_sequential_decay_on_a_chain():
    # A > B > C. A decays B and (a little) C; C is then taken before B' and decays it
    # again: B'' = B * w(A, B) * w(C, B).
    c = [9., 0., 19., 10.]  # IoU(B, C) = 20 / 180 = 1/9; IoU(A, C) = 10 / 190 = 1/19
    boxes, scores, labels = t([A, B, c]), t([0.9, 0.8, 0.5]), lab([3, 3, 3])
    _, s, _ = SoftNMSMerger(method='gaussian', sigma=0.5, min_score=0.0)(
        boxes, scores, labels)

    def w(iou):
        return math.exp(-iou ** 2 / 0.5)
    c_score = 0.5 * w(1 / 19)
    b_score = 0.8 * w(IOU_AB) * w(1 / 9)
    assert s.tolist() == pytest.approx([0.9, c_score, b_score], rel=1e-5)


def test_soft_nms_drops_below_min_score():
    boxes, scores, labels = t([A, A, FAR]), t([0.9, 0.5, 0.0005]), lab([0, 0, 0])
    # Identical boxes: weight exp(-1 / 0.55) = 0.162 -> 0.081, kept at min 0.05 ...
    b, s, _ = SoftNMSMerger(method='gaussian', sigma=0.55, min_score=0.05)(
        boxes, scores, labels)
    assert s.tolist() == pytest.approx([0.9, 0.5 * math.exp(-1 / 0.55)], rel=1e-5)
    # ... dropped at min 0.1; FAR starts below either and is always dropped.
    b, s, _ = SoftNMSMerger(method='gaussian', sigma=0.55, min_score=0.1)(
        boxes, scores, labels)
    assert s.tolist() == pytest.approx([0.9])


def test_box_voting_averages_coordinates_by_score():
    d = [0., 0., 10., 16.]  # IoU(A, D) = 100 / 160 = 0.625: suppressed by NMS, no vote
    boxes, scores, labels = t([A, B, d, A]), t([0.9, 0.6, 0.5, 0.4]), lab([0, 0, 0, 1])
    b, s, lb = BoxVotingMerger(base=dict(type='NMSMerger', iou_threshold=0.5),
                               vote_threshold=0.8)(boxes, scores, labels)
    # A (0.9) and B (0.6, IoU 0.818 >= 0.8) vote: x1 = (0.9 * 0 + 0.6 * 1) / 1.5 = 0.4.
    assert b.tolist()[0] == pytest.approx([0.4, 0.0, 10.4, 10.0])
    assert s.tolist() == pytest.approx([0.9, 0.4])  # survivors keep their scores
    assert lb.tolist() == [0, 1]
    # The label-1 copy of A votes only for itself.
    assert b.tolist()[1] == pytest.approx(A)
    # A lower vote threshold lets D vote too.
    b, _, _ = BoxVotingMerger(vote_threshold=0.6)(boxes, scores, labels)
    assert b.tolist()[0] == pytest.approx([0.3, 0.0, 10.3, 10.0 + 6 * 0.5 / 2.0])


def test_box_voting_over_soft_nms_keeps_soft_scores():
    boxes, scores, labels = t([A, B]), t([0.9, 0.6]), lab([0, 0])
    b, s, _ = BoxVotingMerger(base=dict(type='SoftNMSMerger', sigma=0.55),
                              vote_threshold=0.8)(boxes, scores, labels)
    assert s.tolist() == pytest.approx([0.9, 0.6 * math.exp(-IOU_AB ** 2 / 0.55)], rel=1e-5)
    # Both survivors are voted on by both boxes (IoU 0.818 each way).
    assert b.flatten().tolist() == pytest.approx([0.4, 0, 10.4, 10] * 2)


def test_float64_and_empty_inputs():
    boxes = torch.tensor([A, B], dtype=torch.float64) + 1e-9
    scores, labels = torch.tensor([0.9, 0.8], dtype=torch.float64), lab([0, 1])
    for merger in (NMSMerger(), SoftNMSMerger(), BoxVotingMerger()):
        b, s, lb = merger(boxes, scores, labels)
        assert b.dtype == torch.float64 and s.dtype == torch.float64
        assert torch.equal(b, boxes)  # coordinates exact, not round-tripped through fp32
        e = merger(boxes[:0], scores[:0], labels[:0])
        assert [tuple(x.shape) for x in e] == [(0, 4), (0,), (0,)]
        assert e[2].dtype == torch.long


def test_input_checks():
    m = NMSMerger()
    with pytest.raises(ValueError, match='shape'):
        m(t([[0, 0, 1]]), t([0.5]), lab([0]))
    with pytest.raises(ValueError, match='integer'):
        m(t([A]), t([0.5]), t([0.0]))
    with pytest.raises(ValueError, match='scores and labels'):
        m(t([A]), t([0.5, 0.4]), lab([0]))
    with pytest.raises(ValueError, match='method'):
        SoftNMSMerger(method='hard')
    with pytest.raises(ValueError, match='iou_threshold'):
        NMSMerger(iou_threshold=1.5)


def test_registry_builds_by_name_and_ignores_mmdet_scope():
    from mmdet.registry import TASK_UTILS
    from mmengine.registry import init_default_scope

    init_default_scope('mmdet')  # as inside a Runner
    m = MERGERS.build(dict(type='SoftNMSMerger', method='linear', _scope_='mmdet'))
    assert isinstance(m, SoftNMSMerger) and m.method == 'linear'
    # MERGERS is mmdet TASK_UTILS' child with scope 'mmsniper'.
    assert isinstance(TASK_UTILS.build(dict(type='mmsniper.NMSMerger')), NMSMerger)
    with pytest.raises(KeyError, match='NoSuchMerger'):
        MERGERS.build(dict(type='NoSuchMerger'))


def test_project_registered_class_and_function():
    calls = []

    @MERGERS.register_module(name='_TestTopOneMerger', force=True)
    class TopOne:
        def __init__(self, k=1):
            self.k = k

        def __call__(self, bboxes, scores, labels):
            calls.append(len(scores))
            return bboxes[:self.k], scores[:self.k], labels[:self.k]

    @MERGERS.register_module(name='_test_halve_scores', force=True)
    def halve(bboxes, scores, labels, factor=0.5):
        return bboxes, scores * factor, labels

    boxes, scores, labels = t([A, FAR]), t([0.9, 0.8]), lab([0, 0])
    top = build_merger(dict(type='_TestTopOneMerger', k=1))
    assert top(boxes, scores, labels)[1].tolist() == pytest.approx([0.9]) and calls == [2]
    half = MERGERS.build(dict(type='_test_halve_scores', factor=0.25))
    assert half(boxes, scores, labels)[1].tolist() == pytest.approx([0.225, 0.2])
    # Mergers compose: voting over a project's merger.
    vote = BoxVotingMerger(base=dict(type='_TestTopOneMerger'))
    assert len(vote(boxes, scores, labels)[0]) == 1


def _crowd(n: int, classes: int, seed: int = 0):
    """``n`` jittered copies of ``n // 4`` objects over ``classes`` labels."""
    g = torch.Generator().manual_seed(seed)
    k = n // 4
    centres = torch.rand(k, 2, generator=g) * 500
    sizes = (torch.rand(k, 1, generator=g) * 100 + 6)
    obj = torch.randint(0, k, (n,), generator=g)
    c = centres[obj] + torch.randn(n, 2, generator=g) * sizes[obj] * 0.05
    half = sizes[obj] / 2 * (1 + 0.1 * torch.randn(n, 2, generator=g))
    labels = torch.randint(0, classes, (k,), generator=g)[obj]
    return torch.cat([c - half, c + half], 1), torch.rand(n, generator=g), labels


def test_soft_nms_one_call_equals_one_call_per_class(monkeypatch):
    import mmsniper.models.mergers as mergers

    boxes, scores, labels = _crowd(400, 30)
    merger = SoftNMSMerger(method='gaussian', sigma=0.55)
    monkeypatch.setattr(mergers, '_PAIRS_PER_CALL', 10 ** 12)  # always one call
    one = merger(boxes, scores, labels)
    monkeypatch.setattr(mergers, '_PAIRS_PER_CALL', 0)  # always per class
    per_class = merger(boxes, scores, labels)
    assert len(one[0]) == len(per_class[0]) > 300
    # Same detections; scores equal up to float32 rounding of the shifted coordinates.
    a = sorted(zip(one[0].tolist(), one[1].tolist(), one[2].tolist()))
    b = sorted(zip(per_class[0].tolist(), per_class[1].tolist(), per_class[2].tolist()))
    assert [(x[0], x[2]) for x in a] == [(y[0], y[2]) for y in b]
    assert max(abs(x[1] - y[1]) for x, y in zip(a, b)) < 1e-4


@pytest.mark.parametrize('pairs_per_block', [0, 10 ** 12])  # per-label blocks, one block
def test_box_voting_equals_the_definition(monkeypatch, pairs_per_block):
    import mmsniper.models.mergers as mergers

    monkeypatch.setattr(mergers, '_VOTE_PAIRS_PER_BLOCK', pairs_per_block)
    boxes, scores, labels = _crowd(300, 7, seed=1)
    b, s, lb = BoxVotingMerger(vote_threshold=0.7)(boxes, scores, labels)
    kb, ks, kl = NMSMerger()(boxes, scores, labels)
    assert torch.equal(s, ks) and torch.equal(lb, kl)
    for i in range(len(kb)):  # the definition, one survivor at a time
        lt = torch.maximum(kb[i, :2], boxes[:, :2])
        rb = torch.minimum(kb[i, 2:], boxes[:, 2:])
        inter = (rb - lt).clamp(min=0).prod(1)
        area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])  # noqa: E731
        iou = inter / (area(kb[i]) + area(boxes) - inter)
        w = scores * ((iou >= 0.7) & (labels == kl[i]))
        expected = (w[:, None] * boxes).sum(0) / w.sum()
        torch.testing.assert_close(b[i], expected, rtol=1e-5, atol=1e-4)
