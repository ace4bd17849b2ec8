"""Let configs inherit mmsniper's configs with the ``mmsniper::`` prefix.

mmengine resolves ``package::path`` base configs only for packages in its own table
(``mmengine.config.utils.MODULE2PACKAGE``: mmdet, mmcls, ...), looking them up in the
installed package's ``.mim/configs``. Adding mmsniper to that table lets another
project's config write ``_base_ = ['mmsniper::_base_/sniper_tta.py']``. The table is read
when a config is parsed, so mmsniper must be imported first: mmsniper's tools
(``tools/train.py``, ``tools/test.py``, ``mim train mmsniper``) do; with other tools, use a
path instead of the prefix.
"""
from __future__ import annotations


def allow_mmsniper_base_configs() -> None:
    """Register ``mmsniper`` in mmengine's ``package::`` config table (idempotent)."""
    from mmengine.config import utils

    utils.MODULE2PACKAGE.setdefault('mmsniper', 'mmsniper')
