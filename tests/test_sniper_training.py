"""SNIPER training end to end through the real tools, on generated data, on the CPU."""
from __future__ import annotations

import json
import os
import os.path as osp
import pickle
import sys
import textwrap

import pytest

from conftest import FAST, FAST_TRAIN, REPO, run_tool, tool

SNIPER_TINY = osp.join(REPO, 'configs', 'scaleshapes', 'sniper_faster_r18_scaleshapes.py')
R101 = osp.join(REPO, 'configs', 'sniper_faster_r101.py')

# A very small backbone for the COCO-layout configs (ResNet-18 at quarter width, no weights).
SMALL_MODEL = [
    'model.backbone.depth=18', 'model.backbone.base_channels=16', 'model.backbone.init_cfg=None',
    'model.neck.in_channels=[16,32,64,128]', 'model.neck.out_channels=32',
    'model.rpn_head.in_channels=32', 'model.rpn_head.feat_channels=32',
]
SMALL_HEAD = ['model.roi_head.bbox_roi_extractor.out_channels=32',
              'model.roi_head.bbox_head.in_channels=32',
              'model.roi_head.bbox_head.fc_out_channels=64']


@pytest.fixture
def coco_layout(workdir, scaleshapes_root):
    """The tiny set placed where the COCO configs look: data/coco/."""
    coco = osp.join(workdir, 'data', 'coco')
    os.makedirs(osp.join(coco, 'annotations'))
    from mmdet.datasets import CocoDataset
    coco_names = CocoDataset.METAINFO['classes']
    for split, name in (('train', 'train2017'), ('val', 'val2017')):
        ann = json.load(open(osp.join(scaleshapes_root, 'annotations', f'{split}.json')))
        # COCO's 80 categories (ids 1..80); the shapes keep ids 1..6, so CocoDataset and
        # CocoMetric see a COCO-like file
        ann['categories'] = [dict(id=i + 1, name=n) for i, n in enumerate(coco_names)]
        json.dump(ann, open(osp.join(coco, 'annotations', f'instances_{name}.json'), 'w'))
        os.symlink(osp.join(scaleshapes_root, 'images', split), osp.join(coco, name))
    return workdir


@pytest.mark.slow
def test_sniper_scaleshapes_trains_and_logs_chips(workdir):
    wd = osp.join(workdir, 'w')
    out = run_tool(tool('train.py') + [SNIPER_TINY, '--work-dir', wd, '--cfg-options',
                                       *FAST_TRAIN,
                                       'train_cfg.max_iters=3', 'train_dataloader.batch_size=4',
                                       'default_hooks.logger.interval=1'], cwd=workdir)
    log = out.stdout + out.stderr
    assert 'SNIPER epoch 0:' in log and 'positive + 0 negative chips from 8 images' in log
    assert 'x single-scale' in log
    assert 'Iter(train) [3/3]' in log
    # The pyramid (--tta) and plain single-scale testing both evaluate with CocoMetric.
    ckpt = osp.join(wd, 'iter_3.pth')
    preds = {}
    for name, extra in (('single', []), ('pyramid', ['--tta'])):
        out_pkl = osp.join(wd, f'{name}.pkl')
        res = run_tool(tool('test.py') + [SNIPER_TINY, ckpt, '--work-dir', wd, *extra,
                                          '--out', out_pkl, '--cfg-options', *FAST],
                       cwd=workdir)
        assert 'coco/bbox_mAP' in res.stdout + res.stderr
        preds[name] = pickle.load(open(out_pkl, 'rb'))
    assert len(preds['single']) == len(preds['pyramid']) == 4
    # the pyramid's merged detections are not the single-scale ones
    a = [p['pred_instances']['bboxes'].shape[0] for p in preds['single']]
    b = [p['pred_instances']['bboxes'].shape[0] for p in preds['pyramid']]
    assert a != b or any(
        not (x['pred_instances']['scores'] == y['pred_instances']['scores']).all()
        for x, y in zip(preds['single'], preds['pyramid']))


@pytest.mark.slow
def test_sniper_faster_r101_config_starts_on_coco_layout(coco_layout):
    """`configs/sniper_faster_r101.py` builds, its loader yields chips from data/coco, and
    one iteration runs (with a smaller backbone through --cfg-options)."""
    wd = osp.join(coco_layout, 'r101')
    out = run_tool(tool('train.py') + [R101, '--work-dir', wd, '--cfg-options', *FAST,
                                       *SMALL_MODEL, *SMALL_HEAD,
                                       'train_cfg.max_iters=1', 'train_dataloader.batch_size=2',
                                       'default_hooks.logger.interval=1'], cwd=coco_layout)
    log = out.stdout + out.stderr
    assert 'SNIPER epoch 0:' in log and 'Iter(train) [1/1]' in log


@pytest.mark.slow
def test_outside_config_swaps_in_cascade_rcnn(coco_layout):
    cfg = osp.join(coco_layout, 'my_cascade_sniper.py')
    head = ("dict(type='Shared2FCBBoxHead', in_channels=32, fc_out_channels=64, "
            "roi_feat_size=7, num_classes=80, bbox_coder=dict(type='DeltaXYWHBBoxCoder', "
            "target_means=[0., 0., 0., 0.], target_stds={stds}), reg_class_agnostic=True, "
            "loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0), "
            "loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0))")
    stds = ['[0.1, 0.1, 0.2, 0.2]', '[0.05, 0.05, 0.1, 0.1]', '[0.033, 0.033, 0.067, 0.067]']
    stage = ("dict(assigner=dict(type='SniperMaxIoUAssigner', pos_iou_thr={t}, "
             "neg_iou_thr={t}, min_pos_iou={t}, match_low_quality=False, ignore_iof_thr=0.5), "
             "sampler=dict(type='RandomSampler', num=64, pos_fraction=0.25, neg_pos_ub=-1, "
             "add_gt_as_proposals=True), pos_weight=-1, debug=False)")
    with open(cfg, 'w') as f:
        f.write(textwrap.dedent(f"""
            # Another project's config: SNIPER's R-101 recipe with Cascade R-CNN instead.
            _base_ = [{R101!r}]
            model = dict(
                type='CascadeRCNN',
                roi_head=dict(
                    _delete_=True, type='SniperCascadeRoIHead', num_stages=3,
                    stage_loss_weights=[1, 0.5, 0.25],
                    bbox_roi_extractor=dict(type='SingleRoIExtractor',
                        roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
                        out_channels=32, featmap_strides=[4, 8, 16, 32]),
                    bbox_head=[{', '.join(head.format(stds=s) for s in stds)}]),
                train_cfg=dict(rcnn=[{', '.join(stage.format(t=t) for t in (0.5, 0.6, 0.7))}]))
        """))
    wd = osp.join(coco_layout, 'cascade')
    out = run_tool(tool('train.py') + [cfg, '--work-dir', wd, '--cfg-options', *FAST_TRAIN,
                                       *SMALL_MODEL, 'train_cfg.max_iters=1',
                                       'train_dataloader.batch_size=2'], cwd=coco_layout)
    log = out.stdout + out.stderr
    assert 'CascadeRCNN' in log or 'Iter(train) [1/1]' in log
    assert 'Iter(train) [1/1]' in log and 's0.loss_cls' in log


def test_changed_sniper_block_without_owner_is_an_error(tmp_path):
    cfg = tmp_path / 'child.py'
    cfg.write_text(f"_base_ = [{R101!r}]\nsniper = dict(chip_size=384)\n")
    proc = __import__('subprocess').run(
        tool('train.py') + [str(cfg)], capture_output=True, text=True, cwd=str(tmp_path))
    assert proc.returncode != 0
    assert 'sniper.chip_size = 384 but train_dataloader.dataset.chip_size = 512' in proc.stderr


DIST_SCRIPT = r"""
import json, os, sys
sys.path.insert(0, {repo!r})
from mmengine.dist import all_gather_object, get_rank
import torch.distributed as dist
dist.init_process_group('gloo')   # torchrun's env:// rendezvous; CPU only
import mmsniper
from mmsniper.datasets import ChipSampler, SniperDataset
ds = SniperDataset(dict(type='CocoDataset', data_root={root!r}, ann_file='annotations/train.json',
                        data_prefix=dict(img='images/train/'), pipeline=[],
                        metainfo=dict(classes=('circle', 'triangle', 'square', 'star', 'cross',
                                               'ring')),
                        filter_cfg=dict(filter_empty_gt=False)),
                   scales=[(700, 1000), (400, 640), (-1, 256)],
                   train_ranges=[(-1, 48), (24, 112), (96, -1)], chip_size=256)
s = ChipSampler(ds)            # seed=None: synchronised across ranks
out = {{}}
for epoch in (0, 1):
    s.set_epoch(epoch)
    mine = [[t.index, t.chip.level, list(t.chip.box)] for t in s]
    plan = [[t.index, t.chip.level, list(t.chip.box)] for t in s.epoch_plan()]
    out[epoch] = dict(shards=all_gather_object(mine), plan=plan)
if get_rank() == 0:
    json.dump(out, open({out!r}, 'w'))
"""


@pytest.mark.slow
def test_two_gloo_processes_see_disjoint_chips_covering_the_epoch(tmp_path, scaleshapes_root):
    script = tmp_path / 'dist_check.py'
    result = tmp_path / 'result.json'
    script.write_text(DIST_SCRIPT.format(repo=REPO, root=scaleshapes_root, out=str(result)))
    run_tool([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
              '--master_port=29533', str(script)], cwd=str(tmp_path))
    data = json.loads(result.read_text())
    for epoch, d in data.items():
        a, b = ({json.dumps(x) for x in s} for s in d['shards'])
        assert not a & b, f'epoch {epoch}: ranks share chips'
        assert a | b == {json.dumps(x) for x in d['plan']}
        assert len(d['shards'][0]) + len(d['shards'][1]) == len(d['plan'])
    assert data['0']['plan'] != data['1']['plan']
