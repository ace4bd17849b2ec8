"""SNIPER Mask R-CNN end to end through the real tools (issue 16): train on chips with masks,
test single-scale and with the pyramid (--tta), both with segm metrics; an external
project's config inheriting configs/sniper_mask_rcnn_r101.py builds."""
from __future__ import annotations

import os.path as osp
import pickle
import textwrap

import pytest

from conftest import FAST, FAST_TRAIN, REPO, run_tool, tool

MASK_TINY = osp.join(REPO, 'configs', 'scaleshapes', 'sniper_mask_r18_scaleshapes.py')


@pytest.mark.slow
def test_sniper_mask_rcnn_trains_and_tests_with_segm(workdir):
    wd = osp.join(workdir, 'w')
    out = run_tool(tool('train.py') + [MASK_TINY, '--work-dir', wd, '--cfg-options',
                                       *FAST_TRAIN, 'train_cfg.max_iters=2',
                                       'train_dataloader.batch_size=1'], cwd=workdir)
    log = out.stdout + out.stderr
    assert 'Iter(train) [2/2]' in log and 'loss_mask:' in log
    ckpt = osp.join(wd, 'iter_2.pth')
    # The pyramid (single-scale mask testing is MMDetection's own): one val image, a
    # smaller pyramid, fewer detections -- on the CPU the pyramid is the slow part.
    quick = [*FAST, 'test_dataloader.dataset.indices=1', 'tta_model.max_per_img=50',
             'sniper.test_scales=[(480,800),(240,400),(120,200)]',
             'model.test_cfg.rpn.max_per_img=100', 'model.test_cfg.rcnn.max_per_img=50']
    out_pkl = osp.join(wd, 'pred.pkl')
    res = run_tool(tool('test.py') + [MASK_TINY, ckpt, '--work-dir', wd, '--tta',
                                      '--out', out_pkl, '--cfg-options', *quick], cwd=workdir)
    text = res.stdout + res.stderr
    assert 'coco/segm_mAP' in text and 'coco/bbox_mAP' in text
    (pred,) = pickle.load(open(out_pkl, 'rb'))
    inst = pred['pred_instances']
    # one mask (COCO RLE of the ORIGINAL image) per merged detection
    assert len(inst['masks']) == len(inst['bboxes']) > 0
    assert list(inst['masks'][0]['size']) == list(pred['ori_shape'])


def test_external_config_inheriting_sniper_mask_rcnn_r101_builds(tmp_path):
    """Another project's Mask R-CNN in a few lines: inherit, set `sniper` and its data."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmsniper.engine import SniperRunner  # noqa: F401  (registers the runner)

    cfg_file = tmp_path / 'my_mask_rcnn.py'
    cfg_file.write_text(textwrap.dedent(f'''
        _base_ = '{osp.join(REPO, 'configs', 'sniper_mask_rcnn_r101.py')}'
        sniper = dict(scales=[(800, 1333), (-1, 512)], train_ranges=[(-1, 96), (64, -1)],
                      test_scales=[(800, 1333), (-1, 512)], test_ranges=[(-1, 96), (64, -1)])
        model = dict(roi_head=dict(bbox_head=dict(num_classes=3),
                                   mask_head=dict(num_classes=3)))
        train_dataloader = dict(dataset=dict(dataset=dict(data_root='data/mine/')))
    '''))
    cfg = Config.fromfile(str(cfg_file))
    assert cfg.model.type == 'MaskRCNN' and cfg.model.roi_head.type == 'SniperRoIHead'
    load = [t for t in cfg.train_dataloader.dataset.dataset.pipeline
            if t['type'] == 'LoadAnnotations'][0]
    assert load['with_mask'] and load['poly2mask'] is False
    assert [t['type'] for t in cfg.train_dataloader.dataset.dataset.pipeline][2] == \
        'ChipGenerator'
    assert cfg.val_evaluator.metric == ['bbox', 'segm']
    assert cfg.tta_model.type == 'SniperTTAModel'
    init_default_scope('mmdet')
    from mmengine.registry import MODELS
    cfg.model.backbone.init_cfg = None  # no weights needed to build
    model = MODELS.build(cfg.model)
    assert type(model.roi_head).__name__ == 'SniperRoIHead' and model.roi_head.with_mask
    assert model.roi_head.mask_head.num_classes == 3
