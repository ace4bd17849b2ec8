"""Ignore-aware one-stage, anchor-free and DETR-style heads, on hand-made 64 x 64 chips.

Each family's SNIPER head (or assigner) is compared with mmdet's parent on the same weights
and the same predictions:

* a prior in an ignored box gets no loss at all (its score gradient is 0), where the parent
  (which never sees the ignored box) teaches it background;
* every other prior gets exactly the parent's gradient (the valid boxes are assigned as
  before), and the prior on the valid box is pushed towards its class;
* a chip whose boxes are all ignored still keeps them out of the background;
* with no ignored box the losses are the parent's, bit for bit.
"""
from __future__ import annotations

import copy
import functools
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

import mmsniper  # noqa: F401  (registers the heads)
from mmsniper.models import IGNORE_TARGET, ignore_targets

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CHIP = 64
META = dict(img_shape=(CHIP, CHIP), pad_shape=(CHIP, CHIP), batch_input_shape=(CHIP, CHIP),
            scale_factor=(1.0, 1.0))


def inst(boxes, labels):
    return InstanceData(bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                        labels=torch.tensor(labels, dtype=torch.long))


# -- the families ------------------------------------------------------------------------------
# piece: configs/_base_/<piece>.py; parent: (head type, assigner type) of mmdet's model;
# strides / anchors: the head's levels and priors per location; valid / ignored: a box of
# class 1 and an ignored box (class 0); *_prior: (level, y, x, anchor) of a prior on each.
FAMILIES = {
    'retinanet': dict(piece='sniper_retinanet', parent=('RetinaHead', 'MaxIoUAssigner'),
                      strides=[8, 16, 32, 64, 128], anchors=9,
                      # P3 anchor (ratio 1, scale 1 = index 3) centred (16, 16): [0,0,32,32]
                      valid=[0, 0, 32, 32], valid_prior=(0, 2, 2, 3),
                      ignored=[32, 32, 64, 64], ignored_prior=(0, 6, 6, 3)),
    'atss': dict(piece='sniper_atss', parent=('ATSSHead', 'ATSSAssigner'),
                 strides=[8, 16, 32, 64, 128], anchors=1,
                 # the P3 anchor (64 px) centred on each box
                 valid=[0, 0, 32, 32], valid_prior=(0, 2, 2, 0),
                 ignored=[32, 32, 64, 64], ignored_prior=(0, 6, 6, 0)),
    'fcos': dict(piece='sniper_fcos', parent=('FCOSHead', None),
                 strides=[8, 16, 32, 64, 128], anchors=1,
                 # P3 points sit at (8x + 4, 8y + 4): (20, 20) is the valid box's centre
                 valid=[4, 4, 36, 36], valid_prior=(0, 2, 2, 0),
                 ignored=[36, 36, 60, 60], ignored_prior=(0, 5, 5, 0)),
    'rtmdet': dict(piece='sniper_rtmdet', parent=('RTMDetSepBNHead', 'DynamicSoftLabelAssigner'),
                   strides=[8, 16, 32], anchors=1,
                   # points at (8x, 8y) (offset 0)
                   valid=[4, 4, 36, 36], valid_prior=(0, 2, 2, 0),
                   ignored=[36, 36, 60, 60], ignored_prior=(0, 6, 6, 0)),
    'yolox': dict(piece='sniper_yolox', parent=('YOLOXHead', None),
                  strides=[8, 16, 32], anchors=1,
                  valid=[4, 4, 36, 36], valid_prior=(0, 2, 2, 0),
                  ignored=[36, 36, 60, 60], ignored_prior=(0, 6, 6, 0)),
}


@functools.lru_cache(maxsize=None)
def piece(name: str) -> Config:
    """``model`` of a family piece, configs/_base_/<name>.py (parsed once)."""
    return Config.fromfile(osp.join(REPO, 'configs', '_base_', name + '.py')).model


def build_pair(name):
    """(SNIPER head, mmdet parent head with the same weights)."""
    init_default_scope('mmdet')
    from mmdet.registry import MODELS

    fam = FAMILIES[name]
    model = copy.deepcopy(piece(fam['piece']))
    head = model.bbox_head
    head.update(num_classes=2, in_channels=8, feat_channels=8, stacked_convs=1,
                train_cfg=model.train_cfg, test_cfg=model.test_cfg)
    if name in ('atss', 'fcos'):    # GroupNorm of 32 groups needs 32+ channels
        head.norm_cfg = dict(type='GN', num_groups=4, requires_grad=True)
    elif name != 'retinanet':       # SyncBN -> BN on the CPU
        head.norm_cfg = dict(type='BN')
    torch.manual_seed(0)
    mine = MODELS.build(head)
    parent_cfg = head.copy()
    parent_cfg.type = fam['parent'][0]
    if fam['parent'][1]:
        assigner = {k: v for k, v in head.train_cfg.assigner.items() if k != 'ignore_metric'}
        assigner.update(type=fam['parent'][1])
        if fam['parent'][1] == 'MaxIoUAssigner':
            assigner.update(ignore_iof_thr=-1)
        parent_cfg.train_cfg = dict(head.train_cfg, assigner=assigner)
    parent = MODELS.build(parent_cfg)
    parent.load_state_dict(mine.state_dict())
    return mine.train(), parent.train()


def dense_grads(head, name, gts, ignored):
    """Losses and d(loss)/d(score maps): classification maps, YOLOX's objectness maps."""
    fam = FAMILIES[name]
    torch.manual_seed(1)
    feats = [torch.randn(1, 8, -(-CHIP // s), -(-CHIP // s)) for s in fam['strides']]
    outs = head(feats)
    scores = outs[2] if name == 'yolox' else outs[0]
    losses = head.loss_by_feat(*outs, [gts], [dict(META)], [ignored])
    total = sum(sum(v) if isinstance(v, (list, tuple)) else v for v in losses.values())
    grads = torch.autograd.grad(total, scores)
    return losses, grads


def per_prior(grads, anchors):
    """Per prior (mmdet order: level, y, x, anchor) the largest |gradient| over classes."""
    out = []
    for g in grads:
        _, ac, h, w = g.shape
        out.append(g[0].reshape(anchors, ac // anchors, h, w).abs().amax(1)
                   .permute(1, 2, 0).reshape(-1))
    return torch.cat(out)


def prior_index(name, level, y, x, a):
    fam = FAMILIES[name]
    sizes = [-(-CHIP // s) for s in fam['strides']]
    start = sum(s * s * fam['anchors'] for s in sizes[:level])
    return start + (y * sizes[level] + x) * fam['anchors'] + a


def class_grad(grads, name, level, y, x, a, label):
    c = grads[level].shape[1] // FAMILIES[name]['anchors']
    return float(grads[level][0, a * c + label, y, x])


@pytest.mark.parametrize('name', list(FAMILIES))
def test_a_prior_in_an_ignored_box_gets_no_loss_valid_ones_as_before(name):
    mine, parent = build_pair(name)
    fam = FAMILIES[name]
    gts = inst([fam['valid']], [1])
    ignored = inst([fam['ignored']], [0])
    _, g_mine = dense_grads(mine, name, gts, ignored)
    # the parent does not know the ignored box: it is the background of that chip
    _, g_parent = dense_grads(parent, name, gts, inst([], []))
    a, b = per_prior(g_mine, fam['anchors']), per_prior(g_parent, fam['anchors'])
    claimed = (a == 0) & (b > 0)
    ign = prior_index(name, *fam['ignored_prior'])
    assert claimed[ign], f'{name}: the prior on the ignored box still gets a loss'
    # ... and nothing else changed: every other prior's gradient is the parent's
    keep = ~claimed
    assert torch.allclose(a[keep], b[keep], rtol=1e-6, atol=1e-9)
    # the prior on the valid box is its positive: pushed towards class 1, as before
    valid = fam['valid_prior']
    if name == 'yolox':   # SimOTA picks by cost: the valid box has positives (objectness
        # target 1 pushes up), the parent's
        up = torch.cat([g.reshape(-1) for g in g_mine]) < 0
        assert up.any() and torch.equal(up, torch.cat([g.reshape(-1) for g in g_parent]) < 0)
    else:
        gv = class_grad(g_mine, name, *valid, label=1)
        assert gv == class_grad(g_parent, name, *valid, label=1)
        if name == 'rtmdet':  # soft label (the IoU): the box acts on it, either way
            _, g_none = dense_grads(parent, name, inst([], []), inst([], []))
            assert gv != class_grad(g_none, name, *valid, label=1)
        else:                 # focal loss, target 1: pushed up
            assert gv < 0
    # the ignored box claims a few priors, as a valid box gets a few positives
    assert 0 < int(claimed.sum()) < 0.2 * len(claimed)


@pytest.mark.parametrize('name', list(FAMILIES))
def test_a_chip_whose_boxes_are_all_ignored_teaches_no_background_there(name):
    mine, parent = build_pair(name)
    fam = FAMILIES[name]
    ignored = inst([fam['ignored']], [0])
    _, g_mine = dense_grads(mine, name, inst([], []), ignored)
    _, g_parent = dense_grads(parent, name, inst([], []), inst([], []))
    a, b = per_prior(g_mine, fam['anchors']), per_prior(g_parent, fam['anchors'])
    ign = prior_index(name, *fam['ignored_prior'])
    assert a[ign] == 0 and b[ign] > 0
    assert ((a == 0) & (b > 0)).sum() < 0.2 * len(a)


@pytest.mark.parametrize('name', list(FAMILIES))
def test_without_ignored_boxes_the_loss_is_the_parents(name):
    mine, parent = build_pair(name)
    fam = FAMILIES[name]
    gts = inst([fam['valid'], fam['ignored']], [1, 0])
    for ignored in (inst([], []), None):
        ours, _ = dense_grads(mine, name, gts, ignored)
        theirs, _ = dense_grads(parent, name, gts, ignored)
        assert ours.keys() == theirs.keys()
        for k in ours:
            for x, y in zip(*(v if isinstance(v, (list, tuple)) else [v]
                              for v in (ours[k], theirs[k]))):
                assert torch.equal(x, y), (name, k)


# -- DINO ----------------------------------------------------------------------------------------

def dino_pair():
    init_default_scope('mmdet')
    from mmdet.registry import MODELS

    model = copy.deepcopy(piece('sniper_dino'))
    head = model.bbox_head
    head.update(num_classes=2, embed_dims=8, train_cfg=model.train_cfg)
    torch.manual_seed(0)
    mine = MODELS.build(head)
    parent = MODELS.build(dict(head, type='DINOHead'))
    parent.load_state_dict(mine.state_dict())
    return mine, parent


def dino_grads(head, gts, ignored, queries):
    """Loss gradient w.r.t. the matching queries' class logits (one decoder layer).

    Two denoising queries (one group, for the one valid box) come first, as DINO lays
    them out; ``queries`` are normalised (cx, cy, w, h) boxes of the matching queries."""
    torch.manual_seed(1)
    n = len(queries)
    cls = torch.randn(1, 1, 2 + n, 2, requires_grad=True)
    dn_boxes = [[0.3, 0.3, 0.2, 0.2]] * 2
    boxes = torch.tensor([[dn_boxes + queries]])
    dn_meta = dict(num_denoising_queries=2, num_denoising_groups=1)
    losses = head.loss_by_feat(cls, boxes, None, None, [gts], [dict(META)], dn_meta,
                               None if ignored is None else [ignored])
    total = sum(losses.values())
    return losses, torch.autograd.grad(total, cls)[0][0, 0, 2:]


def as_cxcywh(box):
    x1, y1, x2, y2 = box
    return [(x1 + x2) / 2 / CHIP, (y1 + y2) / 2 / CHIP, (x2 - x1) / CHIP, (y2 - y1) / CHIP]


VALID, IGNORED = [4, 4, 28, 28], [36, 36, 60, 60]
# query 0 on the valid box, query 1 on the ignored one, queries 2-5 elsewhere
QUERIES = [as_cxcywh(VALID), as_cxcywh(IGNORED), [0.9, 0.1, 0.1, 0.1], [0.1, 0.9, 0.1, 0.1],
           [0.5, 0.5, 0.9, 0.9], [0.7, 0.2, 0.05, 0.3]]


def test_dino_ignored_box_takes_its_query_out_of_the_loss():
    mine, parent = dino_pair()
    gts = inst([VALID], [1])
    _, g_mine = dino_grads(mine, gts, inst([IGNORED], [0]), QUERIES)
    _, g_parent = dino_grads(parent, gts, None, QUERIES)
    # query 1 (on the ignored box) gets no loss in SNIPER; background for the parent
    assert torch.all(g_mine[1] == 0) and torch.any(g_parent[1] != 0)
    # the others, the valid box's query 0 included, exactly as before
    others = [0, 2, 3, 4, 5]
    assert torch.equal(g_mine[others], g_parent[others])
    assert g_mine[0, 1] < 0  # query 0 is the valid box's positive (class 1)


def test_dino_without_ignored_boxes_the_loss_is_the_parents():
    mine, parent = dino_pair()
    gts = inst([VALID], [1])
    for ignored in (inst([], []), None):
        ours, _ = dino_grads(mine, gts, ignored, QUERIES)
        theirs, _ = dino_grads(parent, gts, None, QUERIES)
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[k], theirs[k]) for k in ours)


# -- the shared pieces -------------------------------------------------------------------------

def test_ignore_targets_zero_weights_exactly_where_the_target_is_minus_one():
    from mmdet.models.losses import FocalLoss

    loss = ignore_targets(FocalLoss(use_sigmoid=True))
    ignore_targets(loss)  # once only
    assert len(loss._forward_pre_hooks) == 1
    torch.manual_seed(0)
    pred = torch.randn(5, 3, requires_grad=True)
    target = torch.tensor([0, 3, IGNORE_TARGET, 2, IGNORE_TARGET])
    value = loss(pred, target, avg_factor=2.0)
    (grad,) = torch.autograd.grad(value, pred)
    assert torch.all(grad[[2, 4]] == 0) and torch.all(grad[[0, 1, 3]] != 0)
    # the same as leaving those rows out
    plain = FocalLoss(use_sigmoid=True)
    assert torch.allclose(value, plain(pred[[0, 1, 3]], target[[0, 1, 3]], avg_factor=2.0))
    # no -1: bit for bit the plain loss
    t = torch.tensor([0, 3, 1, 2, 3])
    assert torch.equal(loss(pred, t, avg_factor=2.0), plain(pred, t, avg_factor=2.0))
