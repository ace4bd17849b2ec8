"""The mask branch of SNIPER's R-CNN heads (issue 16, item 2): it learns only from positives
in the chip level's valid range, and ignored instances carry no mask loss. Standard
(Mask R-CNN), Cascade and HTC heads."""
from __future__ import annotations

import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.structures import InstanceData

from mmsniper.chips import box_sizes

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CHIP = 128
RANGE = (38.0, 80.0)   # ORIGINAL pixels; the chip is at scale 1
VALID = [5.0, 5.0, 45.0, 45.0]        # 40 px: in range, a training target
IGNORED = [40.0, 30.0, 127.0, 125.0]  # ~91 px: out of range, ignored


def bitmap(box) -> np.ndarray:
    m = np.zeros((CHIP, CHIP), np.uint8)
    x1, y1, x2, y2 = (int(v) for v in box)
    m[y1:y2, x1:x2] = 1
    return m


def sample() -> DetDataSample:
    s = DetDataSample(metainfo=dict(img_shape=(CHIP, CHIP), pad_shape=(CHIP, CHIP),
                                    batch_input_shape=(CHIP, CHIP), scale_factor=(1.0, 1.0),
                                    chip_scale=1.0, chip_valid_range=RANGE))
    s.gt_instances = InstanceData(bboxes=torch.tensor([VALID]), labels=torch.tensor([1]),
                                  masks=BitmapMasks(bitmap(VALID)[None], CHIP, CHIP))
    s.ignored_instances = InstanceData(bboxes=torch.tensor([IGNORED]),
                                       labels=torch.tensor([2]),
                                       masks=BitmapMasks(bitmap(IGNORED)[None], CHIP, CHIP))
    return s


def proposals() -> InstanceData:
    """Jittered boxes around both objects, of every size (in and out of range)."""
    g = torch.Generator().manual_seed(0)
    out = []
    for box in (VALID, IGNORED):
        b = torch.tensor(box)
        for _ in range(60):
            out.append(b + (torch.rand(4, generator=g) - 0.5) * 12)
        for f in (0.3, 0.5, 0.7):  # smaller boxes inside (in range for the big one)
            c, half = (b[:2] + b[2:]) / 2, (b[2:] - b[:2]) * f / 2
            out.append(torch.cat([c - half, c + half]))
    boxes = torch.stack(out).clamp(0, CHIP)
    return InstanceData(bboxes=boxes, scores=torch.rand(len(boxes), generator=g))


def spy(head, seen: list) -> None:
    """Record what each mask head is given to learn from."""
    orig = head.loss_and_target

    def loss_and_target(mask_preds, sampling_results, batch_gt_instances, rcnn_train_cfg):
        seen.append((sampling_results, batch_gt_instances))
        return orig(mask_preds, sampling_results, batch_gt_instances, rcnn_train_cfg)

    head.loss_and_target = loss_and_target


def build_roi_head(cfg_path: str, overrides: dict):
    init_default_scope('mmdet')
    cfg = Config.fromfile(cfg_path)
    cfg.merge_from_dict(overrides)
    rcnn = cfg.model.train_cfg.rcnn
    torch.manual_seed(0)
    head = MODELS.build(dict(cfg.model.roi_head, train_cfg=rcnn,
                             test_cfg=cfg.model.test_cfg.rcnn))
    head.init_weights()
    return head, cfg.model.neck.out_channels


def feats(channels: int):
    torch.manual_seed(1)
    return tuple(torch.randn(1, channels, CHIP // s, CHIP // s) for s in (4, 8, 16, 32))


def sniper_assigner(cfg_assigner: dict) -> dict:
    return dict(cfg_assigner, type='SniperMaxIoUAssigner', ignore_iof_thr=0.5,
                ignore_metric='iof')


def check(seen: list, refined_from: int = 1) -> None:
    """Each mask head call learns from the valid instance only, from positives in range.
    Calls from ``refined_from`` on learn on boxes a box head refined (a cascade's later
    stages; every stage of interleaved HTC): the regression moves sizes a little, so
    they are held to the range within 5% (the negative control has positives 11% below
    it)."""
    assert seen, 'the mask head was not trained'
    for stage, (sampling_results, gts) in enumerate(seen):
        (res,), (gt,) = sampling_results, gts
        # the ignored instance is no target: only the valid instance's mask is given
        assert len(gt) == 1 and gt.masks.masks[0].sum() == bitmap(VALID).sum()
        assert len(res.pos_priors) > 0 and (res.pos_assigned_gt_inds == 0).all()
        # every positive is in the level's range (CHIP px / chip_scale 1 = ORIGINAL)
        size = box_sizes(res.pos_priors)
        tol = 0.05 if stage >= refined_from else 0.0
        assert ((size >= RANGE[0] * (1 - tol)) & (size < RANGE[1] * (1 + tol))).all(), size
        # ... and none lies on the ignored object alone
        iou_ign = (torch.minimum(res.pos_priors[:, 2:], torch.tensor(IGNORED[2:]))
                   - torch.maximum(res.pos_priors[:, :2], torch.tensor(IGNORED[:2]))
                   ).clamp(min=0).prod(1)
        inter_valid = (torch.minimum(res.pos_priors[:, 2:], torch.tensor(VALID[2:]))
                       - torch.maximum(res.pos_priors[:, :2], torch.tensor(VALID[:2]))
                       ).clamp(min=0).prod(1)
        assert (inter_valid > 0).all() and iou_ign.numel() == len(res.pos_priors)


def test_mask_rcnn_head_learns_masks_in_range_only():
    head, ch = build_roi_head(
        osp.join(REPO, 'configs', 'scaleshapes', 'sniper_mask_r18_scaleshapes.py'), {})
    assert type(head).__name__ == 'SniperRoIHead' and head.with_mask
    seen: list = []
    spy(head.mask_head, seen)
    losses = head.loss(feats(ch), [proposals()], [sample()])
    assert torch.isfinite(losses['loss_mask'])
    check(seen)
    # out-of-range proposals that a plain head would take as positives were there
    from mmdet.structures.bbox import bbox_overlaps
    p = proposals().bboxes
    would_be_pos = bbox_overlaps(p, torch.tensor([VALID]))[:, 0] >= 0.5
    assert (would_be_pos & (box_sizes(p) < RANGE[0])).sum() >= 5


@pytest.mark.parametrize('kind', ['cascade', 'htc'])
def test_cascade_and_htc_heads_learn_masks_in_range_only(kind):
    import mmdet
    base = {'cascade': 'cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py',
            'htc': 'htc/htc-without-semantic_r50_fpn_1x_coco.py'}[kind]
    init_default_scope('mmdet')
    cfg = Config.fromfile(osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs', base))
    head_type = {'cascade': 'SniperCascadeRoIHead',
                 'htc': 'SniperHybridTaskCascadeRoIHead'}[kind]
    from mmengine.config import ConfigDict
    rcnn = [ConfigDict(dict(stage, assigner=sniper_assigner(stage['assigner'])))
            for stage in cfg.model.train_cfg.rcnn]
    # narrowed to 32 channels (speed on the CPU); the heads' structure is mmdet's
    rh = cfg.model.roi_head
    rh.bbox_roi_extractor.out_channels = rh.mask_roi_extractor.out_channels = 32
    for b in (rh.bbox_head if isinstance(rh.bbox_head, list) else [rh.bbox_head]):
        b.update(in_channels=32, fc_out_channels=64)
    for m in (rh.mask_head if isinstance(rh.mask_head, list) else [rh.mask_head]):
        m.update(in_channels=32, conv_out_channels=32)
    torch.manual_seed(0)
    head = MODELS.build(dict(rh, type=head_type, train_cfg=rcnn,
                             test_cfg=cfg.model.test_cfg.rcnn))
    head.init_weights()
    seen: list = []
    for mh in head.mask_head:
        spy(mh, seen)
    losses = head.loss(feats(32), [proposals()], [sample()])
    assert any(k.endswith('loss_mask') for k in losses)
    assert len(seen) == head.num_stages
    check(seen, refined_from=0 if kind == 'htc' else 1)
