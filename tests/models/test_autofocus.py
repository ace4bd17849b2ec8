"""AutoFocus training side: FocusPixel targets on a hand-made chip, the head, the detector."""
from __future__ import annotations

import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.structures import InstanceData

import mmsniper.models  # noqa: F401  (registers the modules)
from mmsniper.models.autofocus import FocusPixelHead

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def chip_sample(boxes, ignored=(), img_shape=(64, 96), pad=(64, 96)):
    s = DetDataSample(metainfo=dict(img_shape=img_shape, pad_shape=pad,
                                    batch_input_shape=pad, ori_shape=img_shape,
                                    scale_factor=(1.0, 1.0)))
    s.gt_instances = InstanceData(bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                                  labels=torch.zeros(len(boxes), dtype=torch.long))
    s.ignored_instances = InstanceData(
        bboxes=torch.tensor(ignored, dtype=torch.float32).reshape(-1, 4),
        labels=torch.zeros(len(ignored), dtype=torch.long))
    return s


def test_targets_on_a_hand_made_chip():
    head = FocusPixelHead(in_channels=8, feat_channels=8, stride=16)
    # A 96 x 64 chip in a 128 x 80 padded batch: 8 x 5 cells, the last column/row padding.
    sample = chip_sample([[2, 2, 14, 14],        # 12 px: positive, cell (0, 0)
                          [40, 0, 110, 60]],     # ~65 px: ignored ([64, 90))
                         ignored=[[16, 40, 26, 50]],  # 10 px, not trained here: still positive
                         img_shape=(64, 96), pad=(80, 128))
    t = head.targets((5, 8), [sample])[0]
    assert t.shape == (5, 8)
    assert t[0, 0] == 1 and t[2, 1] == 1 and t[3, 1] == 1
    assert (t[0:4, 2:6] == -1).all() and t[1, 6] == -1  # ignored object: cells 2..6 x 0..3
    assert t[0, 1] == 0 and t[3, 0] == 0                 # negative
    assert (t[4, :] == -1).all() and (t[:, 6:] == -1).all()  # padding: ignored
    # Thresholds are settings.
    strict = FocusPixelHead(in_channels=8, feat_channels=8, small=11.0, dc_high=13.0)
    assert strict.targets((5, 8), [sample])[0][0, 0] == -1


def test_head_loss_ignores_dont_care_cells_and_learns():
    torch.manual_seed(0)
    head = FocusPixelHead(in_channels=4, feat_channels=8, num_convs=1, level=0, loss_weight=2.)
    head.init_weights()
    sample = chip_sample([[2, 2, 14, 14]], img_shape=(64, 96), pad=(64, 96))
    feats = [torch.randn(1, 4, 4, 6)]
    # Untrained: about the prior 0.01 everywhere (no focus pixel at the reference thresholds).
    (pred,) = head.predict(feats, [sample])
    assert torch.allclose(pred.data, torch.full_like(pred.data, 0.01), atol=0.002)
    loss0 = head.loss(feats, [sample])['loss_focus']
    # BCE at p = 0.01: 23 negative cells and 1 positive, times loss_weight 2.
    want = 2 * (23 * -np.log(0.99) - np.log(0.01)) / 24
    assert loss0.item() == pytest.approx(want, rel=0.05)
    opt = torch.optim.Adam(head.parameters(), lr=0.05)
    for _ in range(60):
        opt.zero_grad()
        loss = head.loss(feats, [sample])['loss_focus']
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * loss0.item()
    (pred,) = head.predict(feats, [sample])
    assert pred.data.shape == (1, 4, 6) and pred.metainfo['stride'] == 16
    assert int(pred.data[0].argmax()) == 0  # the positive cell ranks first
    # Every cell ignored (one 78-pixel object fills the chip): zero loss, still a graph.
    dont_care = chip_sample([[0, 0, 96, 64]], img_shape=(64, 96), pad=(64, 96))
    loss = head.loss(feats, [dont_care])['loss_focus']
    assert loss.item() == 0 and loss.requires_grad
    with pytest.raises(ValueError, match='dc_low'):
        FocusPixelHead(in_channels=4, dc_low=70)


@pytest.fixture(scope='module')
def autofocus_detector():
    init_default_scope('mmdet')
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'scaleshapes',
                                   'autofocus_faster_r18_scaleshapes.py'))
    torch.manual_seed(0)
    det = MODELS.build(cfg.model)
    det.init_weights()
    return det


def test_detector_trains_focus_jointly_with_one_backbone_pass(autofocus_detector):
    det = autofocus_detector.train()
    calls = []
    hook = det.backbone.register_forward_hook(lambda *a: calls.append(1))
    try:
        img = torch.randint(0, 255, (3, 64, 96), dtype=torch.uint8)
        data = det.data_preprocessor(dict(inputs=[img, img.flip(-1)],
                                          data_samples=[chip_sample([[2, 2, 14, 14]]),
                                                        chip_sample([[30, 30, 60, 50]])]),
                                     training=True)
        losses = det.loss(data["inputs"], data["data_samples"])
    finally:
        hook.remove()
    assert len(calls) == 1
    assert 'loss_focus' in losses and 'loss_rpn_cls' in losses and 'loss_cls' in losses
    assert losses['loss_focus'].requires_grad
    det.eval()
    with torch.no_grad():
        (pred,) = det.test_step(dict(inputs=[img], data_samples=[chip_sample([])]))
    assert pred.pred_focus.data.shape == (1, 4, 6)
    assert 'bboxes' in pred.pred_instances


def test_configs_coco_reference_and_scaleshapes_scaled_by_the_chip_size():
    coco = Config.fromfile(osp.join(REPO, 'configs', 'autofocus_faster_r101.py'))
    small = Config.fromfile(osp.join(REPO, 'configs', 'scaleshapes',
                                     'autofocus_faster_r18_scaleshapes.py'))
    for cfg in (coco, small):
        assert cfg.model.type == 'AutoFocusFasterRCNN'
        assert cfg.tta_model.type == 'AutoFocusTTAModel'
        assert cfg.runner_type == 'SniperRunner'
        assert len(cfg.tta_model.focus_steps) == len(cfg.sniper.test_scales) - 1
    # The reference values on COCO.
    assert [(s.threshold, s.dilation, s.min_size) for s in coco.tta_model.focus_steps] == [
        (0.02, 3, 16), (0.2, 3, 20)]
    assert (coco.model.focus_head.dc_low, coco.model.focus_head.small,
            coco.model.focus_head.dc_high) == (5, 64, 90)
    # ScaleShapes: sizes times the chip-size ratio, unitless values kept.
    r = small.sniper.chip_size / coco.sniper.chip_size
    for a, b in zip(coco.tta_model.focus_steps, small.tta_model.focus_steps):
        assert (b.threshold, b.dilation, b.min_size) == (a.threshold, a.dilation,
                                                         a.min_size * r)
    for key in ('dc_low', 'small', 'dc_high'):
        assert small.model.focus_head[key] == coco.model.focus_head[key] * r
