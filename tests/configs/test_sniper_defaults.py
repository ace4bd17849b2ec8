"""The `sniper` defaults have one source: ``configs/_base_/sniper_settings.py`` states exactly
the ``SniperSettings`` field defaults (a config can only be Python text, so the two are
proven equal here rather than derived)."""
from __future__ import annotations

import os.path as osp

from mmengine.config import Config

from conftest import REPO
from mmsniper.chips import SniperSettings


def test_base_sniper_block_equals_the_settings_defaults():
    cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'sniper_settings.py'))
    block = dict(cfg.sniper)
    assert SniperSettings.from_dict(block) == SniperSettings()
    assert sorted(block) == sorted(SniperSettings().as_dict())
    assert SniperSettings.from_dict(block).as_dict() == SniperSettings().as_dict()
