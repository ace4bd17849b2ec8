"""The `sniper` block and the components that use its values must agree."""
from __future__ import annotations

import os.path as osp

from mmengine.config import Config

from mmsniper.apis.settings import sniper_settings_mismatches

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
R101 = osp.join(REPO, 'configs', 'sniper_faster_r101.py')


def test_shipped_configs_agree():
    for name in ('sniper_faster_r101.py', 'sniper_faster_r50.py', 'sniper_faster_r101_neg.py',
                 'sniper_rpn_r101.py', 'scaleshapes/sniper_faster_r18_scaleshapes.py',
                 'scaleshapes/sniper_faster_r18_scaleshapes_neg.py',
                 'scaleshapes/sniper_rpn_r18_scaleshapes.py'):
        assert sniper_settings_mismatches(Config.fromfile(osp.join(REPO, 'configs', name))) \
            == [], name


def test_each_owner_is_checked(tmp_path):
    child = tmp_path / 'child.py'
    child.write_text(f"_base_ = [{R101!r}]\n"
                     "sniper = dict(train_ranges=[(-1, 64), (32, 150), (120, -1)],\n"
                     "              test_ranges=[(-1, 100), (32, 180), (75, -1)],\n"
                     "              test_scales=[(1200, 2000), (800, 1280), (480, 512)])\n")
    bad = {k: p for k, p, _, _ in sniper_settings_mismatches(Config.fromfile(str(child)))}
    assert bad == {'train_ranges': 'train_dataloader.dataset.train_ranges',
                   'test_ranges': 'tta_model.test_ranges',
                   'test_scales': 'tta_pipeline (PyramidResize scales)'}
    # ... and setting the owners too makes it consistent again
    child.write_text(child.read_text() + (
        "train_dataloader = dict(dataset=dict(train_ranges=sniper['train_ranges']))\n"
        "tta_model = dict(test_ranges=sniper['test_ranges'])\n"
        "tta_pipeline = [dict(type='LoadImageFromFile'), dict(type='TestTimeAug', transforms=[\n"
        "    [dict(type='PyramidResize', scale=s, level=i)\n"
        "     for i, s in enumerate(sniper['test_scales'])]])]\n"))
    assert sniper_settings_mismatches(Config.fromfile(str(child))) == []


def test_readme_example_for_another_project_builds(tmp_path):
    """docs/examples/ (the README's example) resolves `mmsniper::` through the installed
    package, keeps `sniper` and its owners consistent, and builds a Cascade R-CNN with
    SNIPER's head and assigners."""
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope

    import mmsniper  # noqa: F401
    cfg = Config.fromfile(osp.join(REPO, 'docs', 'examples', 'sniper_cascade_rcnn_r50_mydata.py'))
    assert sniper_settings_mismatches(cfg) == []
    assert cfg.train_dataloader.dataset.type == 'SniperDataset'
    assert cfg.train_dataloader.dataset.dataset.data_root == 'data/mydata/'
    init_default_scope('mmdet')
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'CascadeRCNN'
    assert type(model.roi_head).__name__ == 'SniperCascadeRoIHead'
    assert type(model.rpn_head.assigner).__name__ == 'SniperMaxIoUAssigner'
