"""Every Airbus Aircraft config builds: the config, its `sniper` block applied as the
runner applies it, and its model (no pretrained weights)."""
import glob
import os.path as osp

import pytest
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmsniper  # noqa: F401
from mmsniper.annotations.airbus_aircraft import convert_airbus_aircraft
from mmsniper.engine.sniper_settings import apply_sniper_settings

from conftest import FAST, FAST_TRAIN, REPO, make_airbus_source, run_tool, tool

CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', 'airbus', '*.py')))


def test_there_are_configs():
    names = {osp.basename(c) for c in CONFIGS}
    assert {'sniper_faster_mnv2_airbus.py', 'sniper_faster_mnv2_airbus_neg.py',
            'sniper_rpn_mnv2_airbus.py', 'faster_mnv2_airbus.py', 'jitter_faster_mnv2_airbus.py',
            'sahi_faster_mnv2_airbus.py', 'autofocus_faster_mnv2_airbus.py',
            'faster_mnv2_airbus_880.py', 'jitter_faster_mnv2_airbus_880.py',
            'faster_mnv2_airbus_1375.py', 'faster_mnv2_airbus_1100.py',
            'jitter_faster_mnv2_airbus_1100.py'} <= names


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_builds(path):
    cfg = Config.fromfile(path)
    sniper = 'sniper' in cfg
    if sniper:
        cfg = apply_sniper_settings(cfg, path)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    ds = cfg.train_dataloader.dataset
    name = osp.basename(path)
    if name.startswith('sahi_'):  # MMDetection's plain training on SAHI's slices
        assert ds.type == 'CocoDataset' and ds.ann_file == 'train_512_02_coco.json'
        assert ds.metainfo['classes'] == ('airplane', )
    elif sniper:  # the advisor's level (docs/user_guides/airbus_aircraft.md) comes first
        assert cfg.sniper.scales[0] == (1375, 1375) and cfg.sniper.chip_size == 512
        assert ds.type == 'SniperDataset'
        assert ds.dataset.ann_file == 'annotations/train.json'
        assert ds.dataset.metainfo['classes'] == ('airplane', )
    else:  # whole images
        assert ds.type == 'CocoDataset' and ds.ann_file == 'annotations/train.json'
        assert ds.metainfo['classes'] == ('airplane', )
    assert 'val.json' in cfg.test_evaluator.ann_file
    if name.startswith('jitter_'):
        assert cfg.tta_model.type == 'DetTTAModel'
    if name.endswith('_880.py'):  # the size the 10-minute budget trains, train and test alike
        assert cfg.test_dataloader.dataset.pipeline[1].scale == (880, 880)
        resize = ds.pipeline[2]
        if name.startswith('jitter_'):  # COCO's 640-800 of 800, and 800 / 400 / 1200, x1.1
            assert resize.scales[0] == (704, 704) and resize.scales[-1] == (880, 880)
            assert [t.scale for t in cfg.tta_pipeline[1].transforms[0]] == [
                (880, 880), (440, 440), (1320, 1320)]
        else:
            assert resize.scale == (880, 880)
    for size in (1100, 1375):  # the 25-minute budget's sizes, train and test alike
        if name == f'faster_mnv2_airbus_{size}.py':
            assert cfg.test_dataloader.dataset.pipeline[1].scale == (size, size)
            assert ds.pipeline[2].scale == (size, size)
    if name == 'jitter_faster_mnv2_airbus_1100.py':  # COCO's recipe x1.375
        assert cfg.test_dataloader.dataset.pipeline[1].scale == (1100, 1100)
        assert ds.pipeline[2].scales[0] == (880, 880) and ds.pipeline[2].scales[-1] == (1100, 1100)
        assert [t.scale for t in cfg.tta_pipeline[1].transforms[0]] == [
            (1100, 1100), (550, 550), (1650, 1650)]
    if name.startswith('autofocus_'):
        assert cfg.tta_model.type == 'AutoFocusTTAModel' and len(cfg.sniper.test_scales) == 2
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    if cfg.model.get('roi_head'):
        assert model.roi_head.bbox_head.num_classes == 1
    else:  # the RPN of negative mining
        assert cfg.model.type == 'RPN'


@pytest.mark.slow
def test_sniper_airbus_trains_and_tests(tmp_path):
    """The SNIPER arm end to end on two tiny generated images: convert, train 2
    iterations with the shipped config (no pretrained weights; the advisor's scale
    replaced by 512 x 512 so that each tiny image is one chip), then its own test, the
    ranged pyramid (--tta)."""
    src, out = str(tmp_path / 'src'), str(tmp_path / 'data' / 'airbus_aircraft')
    make_airbus_source(src)
    report = convert_airbus_aircraft(src, out, num_val=1)
    assert report.splits['train']['boxes'] == report.splits['val']['boxes'] == 4
    cfg = osp.join(REPO, 'configs', 'airbus', 'sniper_faster_mnv2_airbus.py')
    wd = str(tmp_path / 'w')
    small = ['model.backbone.init_cfg=None', 'sniper.scales=[(512,512)]',
             'sniper.test_scales=[(512,512)]']
    log = run_tool(tool('train.py') + [cfg, '--work-dir', wd, '--cfg-options', *FAST_TRAIN,
                                       *small, 'train_dataloader.batch_size=1',
                                       'train_cfg.max_iters=2'], cwd=str(tmp_path))
    text = log.stdout + log.stderr
    assert 'SNIPER epoch 0: 1 positive + 0 negative chips from 1 images' in text
    assert 'Iter(train) [2/2]' in text
    res = run_tool(tool('test.py') + [cfg, osp.join(wd, 'iter_2.pth'), '--work-dir', wd,
                                      '--tta', '--cfg-options', *FAST, *small],
                   cwd=str(tmp_path))
    assert 'coco/bbox_mAP' in res.stdout + res.stderr
