"""Masks through SniperTTAModel (issue 16, item 3): each surviving detection keeps its own
mask, pasted in the ORIGINAL frame, through flips, level ranges, mergers and the chip grid;
the views carry per-box patches, never full-image masks."""
from __future__ import annotations

import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import MODELS, init_default_scope
from mmengine.structures import InstanceData

from mmsniper.datasets import PYRAMID_META_KEYS
from mmsniper.models import SniperTTAModel
from mmsniper.models.mergers import MERGERS, merge_with_index
from mmsniper.models.tta import mask_patches

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
H, W = 100, 120


def patch(kind: str, side: int = 28) -> torch.Tensor:
    """A recognisable probability patch: 'left', 'top' or 'bottom' half at 1."""
    p = torch.zeros(side, side)
    if kind == 'left':
        p[:, :side // 2] = 1
    elif kind == 'top':
        p[:side // 2] = 1
    else:
        p[side // 2:] = 1
    return p


def view(level, boxes, scores, patches, flip=False, test_range=(0.0, float('inf'))):
    s = DetDataSample(metainfo=dict(pyramid_level=level, pyramid_range=test_range, flip=flip,
                                    flip_direction='horizontal' if flip else None,
                                    ori_shape=(H, W), img_id=0))
    s.pred_instances = InstanceData(
        bboxes=torch.tensor(boxes, dtype=torch.float32), scores=torch.tensor(scores),
        labels=torch.zeros(len(boxes), dtype=torch.long),
        mask_patches=torch.stack([patch(k) for k in patches]))
    return s


class NoDetector(torch.nn.Module):
    """merge_preds only: the views are given."""

    def test_step(self, data):
        raise AssertionError('not called')


def model(merger):
    return SniperTTAModel(module=NoDetector(), merger=merger, max_per_img=50)


def test_masks_follow_boxes_through_flip_range_and_nms():
    views = [
        # level 0, flipped: box [10, 10, 40, 40] of the flipped image is [80, 10, 110, 40]
        # here; its mask (left half there) is the right half here. The big box is out of
        # the level's range and leaves with its mask.
        view(0, [[10, 10, 40, 40], [0, 0, 100, 90]], [0.9, 0.8], ['left', 'left'],
             flip=True, test_range=(0.0, 50.0)),
        # level 1: a weaker copy of the same object (NMS removes it, not its neighbour's
        # mask) and another object
        view(1, [[81, 11, 110, 40], [20, 50, 60, 90]], [0.5, 0.7], ['top', 'bottom'],
             test_range=(20.0, float('inf'))),
    ]
    out = model(dict(type='NMSMerger', iou_threshold=0.5)).merge_preds([views])[0]
    p = out.pred_instances
    assert p.bboxes.tolist() == [[80, 10, 110, 40], [20, 50, 60, 90]]
    assert p.masks.shape == (2, H, W) and p.masks.dtype == torch.bool
    m0, m1 = p.masks[0], p.masks[1]
    # the flipped view's mask, unflipped with its box: the right half of [80, 110)
    assert m0[12:38, 97:108].all() and not m0[12:38, 82:93].any()
    assert not m0[:, :80].any() and not m0[41:].any()
    # the kept box's own mask: the bottom half of [50, 90)
    assert m1[72:88, 22:58].all() and not m1[52:68, 22:58].any()


def test_box_voting_keeps_the_survivors_own_mask_and_place():
    views = [view(0, [[20, 20, 60, 60], [22, 21, 62, 61]], [0.9, 0.6], ['top', 'bottom'])]
    out = model(dict(type='BoxVotingMerger', vote_threshold=0.8)).merge_preds([views])[0]
    p = out.pred_instances
    assert len(p) == 1
    assert 20 < p.bboxes[0, 0] < 22  # refined by the vote ...
    m = p.masks[0]
    # ... but the mask is the survivor's own ('top'), at the survivor's box
    assert m[22:38, 22:58].all() and not m[42:58, 22:58].any() and not m[:, 61:].any()


def test_soft_nms_and_a_project_merger_give_indices():
    b = torch.tensor([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 70, 70]], dtype=torch.float32)
    s, lb = torch.tensor([0.5, 0.9, 0.3]), torch.tensor([0, 0, 1])
    for merger in (MERGERS.build(dict(type='SoftNMSMerger')),
                   MERGERS.build(dict(type='NMSMerger')),
                   lambda bb, ss, ll: (bb[[2, 1]], ss[[2, 1]] * 0.5, ll[[2, 1]])):
        ob, os_, ol, idx = merge_with_index(merger, b, s, lb)
        assert torch.equal(ob, b[idx]) and torch.equal(ol, lb[idx])


def test_views_without_masks_give_no_masks():
    v = view(0, [[10, 10, 40, 40]], [0.9], ['top'])
    del v.pred_instances.mask_patches
    out = model(dict(type='NMSMerger')).merge_preds([[v]])[0]
    assert 'masks' not in out.pred_instances and len(out.pred_instances) == 1


# -- a real (random) Mask R-CNN ------------------------------------------------------------------

@pytest.fixture(scope='module')
def tiny_mask_rcnn():
    from mmengine.config import Config

    init_default_scope('mmdet')
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'scaleshapes',
                                   'sniper_mask_r18_scaleshapes.py'))
    torch.manual_seed(0)
    det = MODELS.build(cfg.model)
    det.init_weights()
    return det.eval()


def pyramid(levels):
    init_default_scope('mmdet')
    return Compose([
        dict(type='mmdet.LoadImageFromNDArray'),
        dict(type='TestTimeAug', transforms=[
            [dict(type='PyramidResize', scale=s, level=i, max_pixels=mp, test_range=r)
             for i, (s, mp, r) in enumerate(levels)],
            [dict(type='RandomFlip', prob=0.)],
            [dict(type='PackDetInputs', meta_keys=PYRAMID_META_KEYS)]])])


def test_pyramid_masks_equal_the_detectors_own(tiny_mask_rcnn):
    """One level at scale 1 and a merger that keeps everything: the TTA masks (patches
    pasted at the end) are exactly mmdet's single-scale masks; a chip-grid level returns
    masks too; inside the views no full-image masks exist."""
    rng = np.random.default_rng(0)
    img = (rng.random((72, 96, 3)) * 255).astype(np.uint8)
    data = pseudo_collate([pyramid([(1.0, None, (-1, -1))])(dict(img=img, img_id=0))])
    keep_all = dict(type='NMSMerger', iou_threshold=1.0)
    tta = SniperTTAModel(module=tiny_mask_rcnn, merger=keep_all, max_per_img=1000)
    with torch.no_grad():
        single = tiny_mask_rcnn.test_step(dict(inputs=data['inputs'][0],
                                               data_samples=data['data_samples'][0]))[0]
        with mask_patches(tiny_mask_rcnn):
            raw = tiny_mask_rcnn.test_step(dict(inputs=data['inputs'][0],
                                                data_samples=data['data_samples'][0]))[0]
        merged = tta.test_step(data)[0].pred_instances
    assert 'masks' not in raw.pred_instances
    assert raw.pred_instances.mask_patches.shape[1:] == (28, 28)
    ref = single.pred_instances
    assert len(ref) > 0 and len(merged) == len(ref)
    order_ref = torch.argsort(ref.scores, descending=True, stable=True)
    torch.testing.assert_close(merged.bboxes, ref.bboxes[order_ref])
    assert torch.equal(merged.masks, ref.masks[order_ref])
    # the chip grid path: level 0 as 64-pixel chips
    data = pseudo_collate([pyramid([(1.0, 5000, (-1, 20)), (0.5, None, (16, -1))])(
        dict(img=img, img_id=0))])
    tta = SniperTTAModel(module=tiny_mask_rcnn, merger=dict(type='SoftNMSMerger'),
                         max_per_img=30, chip_cfg=dict(chip_size=64, batch_size=4))
    with torch.no_grad():
        out = tta.test_step(data)[0].pred_instances
    assert len(out) > 0 and out.masks.shape == (len(out), 72, 96)
    # each mask lies in its box (the paste's one-pixel rounding aside)
    for m, b in zip(out.masks, out.bboxes):
        ys, xs = torch.nonzero(m, as_tuple=True)
        if len(ys):
            assert xs.min() >= b[0] - 1 and xs.max() <= b[2] + 1
            assert ys.min() >= b[1] - 1 and ys.max() <= b[3] + 1
