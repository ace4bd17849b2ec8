"""The `sniper` defaults have one source: ``configs/_base_/sniper_settings.py`` states exactly
the ``SniperSettings`` field defaults (a config can only be Python text, so the two are
proven equal here rather than derived)."""
from __future__ import annotations

import os.path as osp

from mmengine.config import Config

from mmsniper.chips import SniperSettings

from conftest import REPO


def test_base_sniper_block_equals_the_settings_defaults():
    cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'sniper_settings.py'))
    block = dict(cfg.sniper)
    assert SniperSettings.from_dict(block) == SniperSettings()
    assert sorted(block) == sorted(SniperSettings().as_dict())
    assert SniperSettings.from_dict(block).as_dict() == SniperSettings().as_dict()


def test_sniper_meta_keys_are_written_once_and_match_the_transforms():
    """``configs/_base_/sniper_pipeline.py`` writes SNIPER's ``PackDetInputs`` meta keys; the
    other SNIPER training pipelines take that step (``_base_.train_pipeline[-1]``), and the
    keys are ``SNIPER_META_KEYS``, what the model parts read."""
    from mmsniper.datasets import SNIPER_META_KEYS

    for name in ('_base_/sniper_pipeline.py', '_base_/sniper_mask_rcnn.py',
                 'scaleshapes/snip_faster_mnv2_scaleshapes.py',
                 'scaleshapes/sniper_mask_r18_scaleshapes.py'):
        cfg = Config.fromfile(osp.join(REPO, 'configs', name))
        data = cfg.train_dataloader.dataset
        while 'dataset' in data:
            data = data.dataset
        pack = data.pipeline[-1]
        assert pack.type == 'PackDetInputs' and tuple(pack.meta_keys) == SNIPER_META_KEYS, name
        text = open(osp.join(REPO, 'configs', name)).read()
        assert ("'chip_valid_range'" in text) == (name == '_base_/sniper_pipeline.py'), name
