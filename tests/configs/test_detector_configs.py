"""SNIPER's one-stage, anchor-free, DETR-style and VOC configs on ScaleShapes, on the CPU.

Each shipped config is built by ``SniperRunner`` (as every tool builds it) with a small
backbone and the tiny data set, trains two iterations on chips, and its trained model runs
the config's own test pyramid (``tta_model`` + ``tta_pipeline``, one level as a chip grid).
One outside config inheriting ``sniper_retinanet_r50.py`` with its own backbone trains
through ``tools/train.py``.
"""
from __future__ import annotations

import copy
import os
import os.path as osp
import xml.etree.ElementTree as ET

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import RUNNERS

from conftest import FAST_TRAIN, REPO, run_tool, tool

CLASSES = ('circle', 'triangle', 'square', 'star', 'cross', 'ring')
# ScaleShapes' SNIPER settings (configs/scaleshapes/sniper_faster_r18_scaleshapes.py).
SCALESHAPES_SNIPER = dict(
    scales=[(960, 1400), (480, 800), (-1, 256)], train_ranges=[(-1, 48), (24, 112), (96, -1)],
    chip_size=256, stride=16, test_scales=[(960, 1400), (480, 800), (240, 400)],
    test_ranges=[(-1, 56), (24, 128), (64, -1)])
# The half-width ResNet-18 of configs/_base_/models/faster_r18_half.py, from scratch.
R18_HALF = dict(depth=18, base_channels=32, init_cfg=None, frozen_stages=-1, norm_eval=False)
R18_HALF_CHANNELS = [32, 64, 128, 256]


def _shrink_model(name: str, model: Config, num_classes: int) -> None:
    """A small, weight-free version of the family's model (in place)."""
    head = model.get('bbox_head')
    if head is not None:
        head.num_classes = num_classes
    if name in ('retinanet', 'fcos', 'atss'):
        model.backbone.update(R18_HALF)
        model.neck.update(in_channels=R18_HALF_CHANNELS, out_channels=64)
        head.update(in_channels=64, feat_channels=64, stacked_convs=1)
        if name != 'retinanet':  # GroupNorm of 32 groups fits 64 channels
            head.norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)
    elif name in ('rtmdet', 'yolox'):
        # the family's own backbone and neck at 1/8 width, BN (SyncBN needs GPUs)
        model.backbone.update(deepen_factor=0.167, widen_factor=0.125, init_cfg=None)
        model.neck.update(in_channels=[32, 64, 128], out_channels=32, num_csp_blocks=1)
        head.update(in_channels=32, feat_channels=32, stacked_convs=1)
        for part in (model.backbone, model.neck, head):
            part.norm_cfg = dict(type='BN')
    elif name == 'dino':
        # mmdet's DINO decoder needs 256 dims (its query position encoding is fixed);
        # one encoder and one decoder layer, 30 queries
        model.backbone.update(R18_HALF)
        model.neck.in_channels = R18_HALF_CHANNELS[1:]
        model.num_queries = 30
        model.dn_cfg.group_cfg.num_dn_queries = 10
        for part in (model.encoder, model.decoder):
            part.num_layers = 1
            part.layer_cfg.ffn_cfg.feedforward_channels = 256
    elif name == 'faster_voc':
        model.backbone.update(R18_HALF)
        model.neck.update(in_channels=R18_HALF_CHANNELS, out_channels=64)
        model.rpn_head.update(in_channels=64, feat_channels=64)
        model.roi_head.bbox_roi_extractor.out_channels = 64
        model.roi_head.bbox_head.update(in_channels=64, fc_out_channels=128)
        model.train_cfg.rpn_proposal.update(nms_pre=300, max_per_img=100)
        model.train_cfg.rcnn.sampler.num = 64
    # a few detections per pyramid level, whatever their score: the test is the plumbing
    test = model.test_cfg.get('rcnn', model.test_cfg)
    test.update(max_per_img=20)
    for key, value in (('score_thr', 0.0), ('nms_pre', 200)):
        if key in test:
            test[key] = value


CONFIGS = {
    'retinanet': 'sniper_retinanet_r50.py',
    'fcos': 'sniper_fcos_r50.py',
    'atss': 'sniper_atss_r50.py',
    'rtmdet': 'sniper_rtmdet_s.py',
    'yolox': 'sniper_yolox_s.py',
    'dino': 'sniper_dino_r50.py',
    'faster_voc': 'sniper_faster_r101_voc.py',
}
VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus')  # for the 6 shapes


def tiny_cfg(name: str, data_root: str, work_dir: str) -> Config:
    """The shipped config on the tiny ScaleShapes set: 256 chips, batch 1, 2 iterations,
    no workers, no validation or checkpoint, a small backbone."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', CONFIGS[name]))
    _shrink_model(name, cfg.model, len(CLASSES))
    if name == 'rtmdet':  # boxes with positive sides from the untrained head (the l model's)
        cfg.model.bbox_head.exp_on_reg = True
    # ScaleShapes' settings; the test pyramid at 1/16 of its pixels (CPU time)
    cfg.sniper.update(SCALESHAPES_SNIPER,
                      test_scales=[(240, 400), (120, 200), (60, 100)])
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=0)
    cfg.log_level = 'WARNING'
    loader = cfg.train_dataloader
    loader.update(batch_size=1, num_workers=0, persistent_workers=False)
    if name == 'faster_voc':  # VOCDataset's own 20 classes, the tiny set as VOC
        for part in loader.dataset.dataset.datasets:
            part.data_root = data_root
    else:
        loader.dataset.dataset.update(data_root=data_root, ann_file='annotations/train.json',
                                      data_prefix=dict(img='images/train/'),
                                      metainfo=dict(classes=CLASSES))
    cfg.train_cfg.update(max_iters=2, val_interval=1000)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger.interval = 1
    cfg.visualizer.name = f'vis_{name}_{id(cfg)}'  # runners in one process
    return cfg


def run_pyramid(runner, cfg: Config, img_path: str, chips: bool) -> list:
    """The trained model through the config's own test pyramid (``chips``: the finest
    level, 320 x 240, as a grid of 256 x 256 chips)."""
    from mmsniper.engine.sniper_settings import apply_sniper_settings

    resolved = apply_sniper_settings(copy.deepcopy(cfg))
    pipeline = copy.deepcopy(resolved.tta_pipeline)
    if chips:
        for view in pipeline[1].transforms[0]:
            view.max_pixels = 50 * 1000
    tta = copy.deepcopy(resolved.tta_model)
    tta.chip_cfg.update(chip_size=256, batch_size=2)
    tta.merger.min_score = 0.0  # keep the untrained model's low scores
    from mmengine.registry import MODELS
    model = MODELS.build(dict(tta, module=runner.model)).eval()
    data = pseudo_collate([Compose(pipeline)(dict(img_path=img_path, img_id=0))])
    with torch.no_grad():
        return model.test_step(data), resolved


def _voc_xml(path: str, image: dict, anns: list) -> None:
    """A PASCAL VOC annotation file; each image's first box is "difficult"."""
    root = ET.Element('annotation')
    ET.SubElement(root, 'filename').text = image['file_name']
    size = ET.SubElement(root, 'size')
    for key, value in (('width', image['width']), ('height', image['height']), ('depth', 3)):
        ET.SubElement(size, key).text = str(value)
    for k, a in enumerate(anns):
        obj = ET.SubElement(root, 'object')
        ET.SubElement(obj, 'name').text = VOC_CLASSES[a['category_id'] - 1]
        ET.SubElement(obj, 'difficult').text = '1' if k == 0 else '0'
        box = ET.SubElement(obj, 'bndbox')
        x, y, w, h = a['bbox']
        for key, value in (('xmin', x), ('ymin', y), ('xmax', x + w), ('ymax', y + h)):
            ET.SubElement(box, key).text = str(int(value))
    ET.ElementTree(root).write(path)


@pytest.fixture(scope='module')
def voc_root(tmp_path_factory, scaleshapes_root) -> str:
    """The tiny set as PASCAL VOC: VOC2007 trainval (train images), VOC2007 test (val
    images), VOC2012 trainval (train images again)."""
    import json

    root = str(tmp_path_factory.mktemp('VOCdevkit'))
    for year, split, src, prefix in (('VOC2007', 'trainval', 'train', 'a'),
                                     ('VOC2007', 'test', 'val', 'b'),
                                     ('VOC2012', 'trainval', 'train', 'c')):
        for sub in ('Annotations', 'JPEGImages', 'ImageSets/Main'):
            os.makedirs(osp.join(root, year, sub), exist_ok=True)
        data = json.load(open(osp.join(scaleshapes_root, 'annotations', f'{src}.json')))
        ids = []
        for image in data['images']:
            stem = prefix + osp.splitext(image['file_name'])[0]
            ids.append(stem)
            os.symlink(osp.join(scaleshapes_root, 'images', src, image['file_name']),
                       osp.join(root, year, 'JPEGImages', stem + '.jpg'))
            _voc_xml(osp.join(root, year, 'Annotations', stem + '.xml'), image,
                     [a for a in data['annotations'] if a['image_id'] == image['id']])
        with open(osp.join(root, year, 'ImageSets', 'Main', split + '.txt'), 'w') as f:
            f.write('\n'.join(ids) + '\n')
    return root + '/'


@pytest.fixture
def quick_config_text(monkeypatch):
    """mmengine formats the whole config with yapf four times per runner (dump, logs,
    visualizer): two thirds of a tiny in-process run on the CPU. Plain text here."""
    monkeypatch.setattr(Config, 'pretty_text', property(lambda self: self.text))


@pytest.mark.parametrize('name', list(CONFIGS))
def test_config_trains_on_chips_and_tests_with_the_pyramid(name, scaleshapes_root, tmp_path,
                                                           quick_config_text, request):
    from mmsniper.models import level_range_mask

    data_root = request.getfixturevalue('voc_root') if name == 'faster_voc' \
        else scaleshapes_root + '/'
    cfg = tiny_cfg(name, data_root, str(tmp_path))
    runner = RUNNERS.build(cfg)
    assert type(runner).__name__ == 'SniperRunner'
    runner.train()
    assert runner.iter == 2
    if name == 'faster_voc':  # VOC 2007 + 2012 as chips; "difficult" boxes ignored
        ds = runner.train_dataloader.dataset
        assert type(ds.dataset).__name__ == 'ConcatDataset' and len(ds) == 16
        assert ds.boxes.ignore.sum() == 16 and not ds.boxes.ignore.all()
    img = osp.join(scaleshapes_root, 'images', 'val', sorted(os.listdir(
        osp.join(scaleshapes_root, 'images', 'val')))[0])
    # one family also runs the finest level as chips (any detector's outputs work there)
    (out,), resolved = run_pyramid(runner, cfg, img, chips=name == 'fcos')
    p = out.pred_instances
    h, w = out.metainfo['ori_shape']
    assert 0 < len(p) <= resolved.tta_model.max_per_img and p.labels.dtype == torch.long
    b = p.bboxes
    # ORIGINAL pixels: the boxes' centres are on the image (YOLOX and DINO do not clip
    # boxes to the image, so their sides may stick out)
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    assert ((cx > -0.05 * w) & (cx < 1.05 * w) & (cy > -0.05 * h) & (cy < 1.05 * h)).all()
    ranges = [tuple(v.test_range) for v in resolved.tta_pipeline[1].transforms[0]]
    in_some = torch.zeros(len(b), dtype=torch.bool)
    for r in ranges:
        in_some |= level_range_mask(b, r)
    assert in_some.all()


# Another project's config: SNIPER RetinaNet with a backbone of its own (mmdet's RegNetX-
# 400MF, no weights), its classes and its data; everything else inherited.
OUTSIDE = """
_base_ = [{base!r}]
model = dict(
    backbone=dict(_delete_=True, type='RegNet', arch='regnetx_400mf', out_indices=(0, 1, 2, 3),
                  norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False,
                  init_cfg=None),
    neck=dict(in_channels=[32, 64, 160, 384], out_channels=32),
    bbox_head=dict(num_classes=6, in_channels=32, feat_channels=32, stacked_convs=1))
_classes = ('circle', 'triangle', 'square', 'star', 'cross', 'ring')
sniper = dict(scales=[(960, 1400), (480, 800), (-1, 256)],
              train_ranges=[(-1, 48), (24, 112), (96, -1)], chip_size=256, stride=16)
train_dataloader = dict(batch_size=2, dataset=dict(dataset=dict(
    data_root='data/scaleshapes/', ann_file='annotations/train.json',
    data_prefix=dict(img='images/train/'),
    metainfo=dict(classes=_classes))))
val_dataloader = dict(dataset=dict(
    data_root='data/scaleshapes/', ann_file='annotations/val.json',
    data_prefix=dict(img='images/val/'), metainfo=dict(classes=_classes)))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file='data/scaleshapes/annotations/val.json')
test_evaluator = val_evaluator
"""


@pytest.mark.slow
def test_outside_config_with_its_own_backbone_trains_through_tools_train(workdir):
    cfg = osp.join(workdir, 'my_sniper_retinanet.py')
    with open(cfg, 'w') as f:
        f.write(OUTSIDE.format(base=osp.join(REPO, 'configs', 'sniper_retinanet_r50.py')))
    wd = osp.join(workdir, 'w')
    out = run_tool(tool('train.py') + [cfg, '--work-dir', wd, '--cfg-options', *FAST_TRAIN,
                                       'train_cfg.max_iters=2',
                                       'default_hooks.checkpoint.interval=2'], cwd=workdir)
    log = out.stdout + out.stderr
    assert 'SNIPER epoch 0:' in log and 'Iter(train) [2/2]' in log and 'loss_cls' in log
    # the saved checkpoint holds the outside backbone (RegNet's 3x3 stem of 32 channels,
    # not ResNet-50's 7x7 of 64) and the outside classes
    from mmengine.runner import CheckpointLoader  # mmsniper's safe loader

    ckpt = CheckpointLoader.load_checkpoint(osp.join(wd, 'iter_2.pth'), map_location='cpu')
    assert ckpt['state_dict']['backbone.conv1.weight'].shape == (32, 3, 3, 3)
    assert ckpt['state_dict']['bbox_head.retina_cls.weight'].shape[0] == 9 * 6
