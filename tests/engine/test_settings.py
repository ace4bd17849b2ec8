"""The `sniper` block: one owner per value, validated once, written into its components."""
from __future__ import annotations

import copy
import os.path as osp

import pytest
from mmengine.config import Config

from mmsniper.chips import SniperSettings
from mmsniper.engine.sniper_settings import CONSUMERS, apply_sniper_settings

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
R101 = osp.join(REPO, 'configs', 'sniper_faster_r101.py')
SHIPPED = ('sniper_faster_r101.py', 'sniper_faster_r50.py', 'sniper_faster_r101_neg.py',
           'sniper_rpn_r101.py', 'scaleshapes/sniper_faster_r18_scaleshapes.py',
           'scaleshapes/sniper_faster_r18_scaleshapes_neg.py',
           'scaleshapes/sniper_rpn_r18_scaleshapes.py')


def _child(tmp_path, body: str, name: str = 'child.py') -> Config:
    path = tmp_path / name
    path.write_text(f'_base_ = [{R101!r}]\n' + body)
    return Config.fromfile(str(path))


def _views(cfg):
    """``(scale, level, test_range)`` of the tta_pipeline's PyramidResize views."""
    stage = cfg.tta_pipeline[1].transforms[0]
    return [(tuple(v.scale), v.level, tuple(v.test_range)) for v in stage]


def test_shipped_configs_write_each_value_once():
    for name in SHIPPED:
        raw = Config.fromfile(osp.join(REPO, 'configs', name))
        assert raw.runner_type == 'SniperRunner', name
        # no SNIPER value is written into a component, only into `sniper`
        ds = raw.train_dataloader.dataset
        assert not set(CONSUMERS['SniperDataset']) & set(ds), name
        assert 'test_ranges' not in raw.tta_model, name
        assert all('scale' not in v for v in raw.tta_pipeline[1].transforms[0]), name
        cfg = apply_sniper_settings(raw, name)
        st = SniperSettings.from_dict(raw.sniper)
        ds = cfg.train_dataloader.dataset
        train = {k: ds[k] for k in CONSUMERS['SniperDataset']}
        assert SniperSettings.from_dict(
            dict(train, test_scales=st.test_scales, test_ranges=st.test_ranges)) == st, name
        assert _views(cfg) == [(tuple(s), i, tuple(r)) for i, (s, r) in
                               enumerate(zip(st.test_scales, st.test_ranges))], name


def test_one_edit_in_a_child_reaches_training_and_testing(tmp_path):
    cfg = apply_sniper_settings(_child(tmp_path, (
        "sniper = dict(scales=[(600, 1000), (-1, 256)], train_ranges=[(-1, 64), (48, -1)],\n"
        "              test_scales=[(700, 1100), (300, 500)],\n"
        "              test_ranges=[(-1, 70), (40, -1)], chip_size=256, stride=16)\n")))
    ds = cfg.train_dataloader.dataset
    assert ds.scales == [(600, 1000), (-1, 256)] and ds.train_ranges == [(-1, 64), (48, -1)]
    assert (ds.chip_size, ds.stride, ds.min_size) == (256, 16, 10)
    gen = ds.dataset.pipeline[2]
    assert gen.type == 'ChipGenerator' and gen.chip_size == 256 and gen.stride == 16
    # two test levels now: the template became two views, each with its range
    assert _views(cfg) == [((700, 1100), 0, (-1, 70)), ((300, 500), 1, (40, -1))]
    # the resolved block lists every value (a dumped config shows them all)
    assert cfg.sniper['min_visible'] == 0.5 and cfg.sniper['neg_chips_per_img'] == 0
    # applying again changes nothing (the runner may see an already resolved config)
    again = apply_sniper_settings(cfg)
    assert again.train_dataloader == cfg.train_dataloader
    assert again.tta_pipeline == cfg.tta_pipeline


def test_a_component_value_that_contradicts_sniper_names_both_keys(tmp_path):
    cfg = _child(tmp_path, "train_dataloader = dict(dataset=dict(chip_size=384))\n")
    with pytest.raises(ValueError, match=r'train_dataloader.dataset.chip_size = 384 but '
                                         r'sniper.chip_size = 512'):
        apply_sniper_settings(cfg)
    # the same value twice is no contradiction
    same = _child(tmp_path, "sniper = dict(chip_size=384)\n"
                            "train_dataloader = dict(dataset=dict(chip_size=384))\n")
    assert apply_sniper_settings(same).train_dataloader.dataset.chip_size == 384
    # an explicit pyramid must match sniper.test_scales level for level
    cfg = _child(tmp_path, (
        "tta_pipeline = [dict(type='LoadImageFromFile'), dict(type='TestTimeAug', transforms=[\n"
        "    [dict(type='PyramidResize', scale=s, level=i)\n"
        "     for i, s in enumerate([(1400, 2000), (700, 1280), (480, 512)])]])]\n"))
    with pytest.raises(ValueError, match=r'tta_pipeline\[1\].transforms\[0\]\[1\].scale = '
                                         r'\(700, 1280\) but sniper.test_scales\[1\]'):
        apply_sniper_settings(cfg)
    # a former owner is named with its new place
    cfg = _child(tmp_path, "tta_model = dict(test_ranges=[(-1, 90), (32, 180), (75, -1)])\n")
    with pytest.raises(ValueError, match=r'tta_model.test_ranges: not a key of SniperTTAModel '
                                         r'any more; set sniper.test_ranges'):
        apply_sniper_settings(cfg)


def test_unknown_key_and_bad_values_are_errors_at_config_time(tmp_path):
    with pytest.raises(ValueError, match=r"sniper.chip_sise: unknown SNIPER setting; did you "
                                         r"mean 'chip_size'\?"):
        apply_sniper_settings(_child(tmp_path, "sniper = dict(chip_sise=128)\n"))
    # what the engine refuses is refused here, with the same rule and the config key
    # (before: stride passed the config check and failed at the sampler's first __iter__)
    with pytest.raises(ValueError, match=r'sniper.stride: expected less than chip_size - 1 = '
                                         r'511, got 511'):
        apply_sniper_settings(_child(tmp_path, "sniper = dict(stride=511)\n"))
    with pytest.raises(ValueError, match=r'sniper.test_ranges: expected one \(lo, hi\) per '
                                         r'scale of sniper.test_scales \(2\), got 3'):
        apply_sniper_settings(_child(tmp_path, "sniper = dict(test_scales=[1.0, 0.5])\n"))


def test_readme_example_for_another_project_builds():
    """docs/examples/ (the README's example) resolves `mmsniper::` through the installed
    package, sets its scales with one edit, and builds a Cascade R-CNN with SNIPER's head
    and assigners."""
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope

    import mmsniper  # noqa: F401
    cfg = Config.fromfile(osp.join(REPO, 'docs', 'examples', 'sniper_cascade_rcnn_r50_mydata.py'))
    cfg = apply_sniper_settings(cfg)
    assert cfg.train_dataloader.dataset.type == 'SniperDataset'
    assert cfg.train_dataloader.dataset.scales == [(1200, 2000), (600, 1000), (-1, 512)]
    assert cfg.train_dataloader.dataset.dataset.data_root == 'data/mydata/'
    init_default_scope('mmdet')
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'CascadeRCNN'
    assert type(model.roi_head).__name__ == 'SniperCascadeRoIHead'
    assert type(model.rpn_head.assigner).__name__ == 'SniperMaxIoUAssigner'


def test_runner_config_formats_once_and_returns_mmengines_text(monkeypatch):
    """SniperRunner keeps a FormatOnceConfig: mmengine's exact text, yapf run once per content."""
    import mmengine.config.config as mmcfg

    from mmsniper.engine.runner import FormatOnceConfig

    cfg = Config.fromfile(osp.join(REPO, 'configs', 'scaleshapes',
                                   'sniper_faster_r18_scaleshapes.py'))
    expected = cfg.pretty_text
    calls = []
    real = mmcfg.FormatCode

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(mmcfg, 'FormatCode', counted)
    once = FormatOnceConfig.of(cfg)
    assert [once.pretty_text for _ in range(3)] == [expected] * 3
    assert len(calls) == 1
    copied = copy.deepcopy(once)          # what Runner.__init__ keeps
    assert type(copied) is FormatOnceConfig and copied.pretty_text == expected
    assert len(calls) == 1
    copied.train_cfg.max_iters = 7                      # a changed config is formatted again
    assert 'max_iters=7' in copied.pretty_text and len(calls) == 2
    assert cfg.train_cfg.max_iters != 7                 # .of() copied; the input is untouched


def test_settings_are_validated_once_per_run(monkeypatch):
    """tools/train.py resolves the complete config; SniperRunner (built from the registry, as
    the tools build it) finds it resolved and validates nothing again. A config changed after
    resolving is resolved again, and the marker never reaches the config's text."""
    import mmsniper.engine.sniper_settings as ss

    cfg = Config.fromfile(osp.join(REPO, 'configs', 'scaleshapes',
                                   'sniper_faster_r18_scaleshapes.py'))
    calls = []
    real = ss.sniper_settings
    monkeypatch.setattr(ss, 'sniper_settings', lambda c: calls.append(1) or real(c))
    resolved = apply_sniper_settings(cfg, 'the config')
    assert len(calls) == 1
    again = apply_sniper_settings(resolved.copy())   # what RUNNERS.build hands from_cfg
    assert len(calls) == 1 and again.pretty_text == resolved.pretty_text
    assert '_sniper_resolved' not in resolved.pretty_text and '_sniper_resolved' not in resolved
    resolved.train_cfg.max_iters = 7
    apply_sniper_settings(resolved)
    assert len(calls) == 2
