"""``SniperRunner``: mmengine's ``Runner`` that first writes the ``sniper`` block into the config.

Registered in mmengine's root ``RUNNERS`` (so any default scope finds it). A config selects
it with ``runner_type = 'SniperRunner'`` (``configs/_base_/sniper_settings.py`` does), and
then every tool that builds runners the MMDetection way builds it: mmsniper's
``tools/train.py`` / ``tools/test.py``, ``mim train|test mmsniper``, and MMDetection's own
``tools/train.py`` / ``tools/test.py`` (``RUNNERS.build(cfg)`` when ``runner_type`` is in
the config; ``--tta`` has already swapped in ``tta_model`` and ``tta_pipeline`` by then).
"""
from __future__ import annotations

from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .sniper_settings import apply_sniper_settings


@RUNNERS.register_module()
class SniperRunner(Runner):
    """``Runner`` whose config's SNIPER components take their values from ``sniper``.

    See :func:`~mmsniper.engine.sniper_settings.apply_sniper_settings`. Everything else is
    mmengine's ``Runner``.
    """

    @classmethod
    def from_cfg(cls, cfg) -> Runner:
        return super().from_cfg(apply_sniper_settings(cfg))
