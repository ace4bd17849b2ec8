"""``SniperRunner``: mmengine's ``Runner`` that first writes the ``sniper`` block into the config.

Registered in mmengine's root ``RUNNERS`` (so any default scope finds it). A config selects
it with ``runner_type = 'SniperRunner'`` (``configs/_base_/sniper_settings.py`` does), and
then every tool that builds runners the MMDetection way builds it: mmsniper's
``tools/train.py`` / ``tools/test.py``, ``mim train|test mmsniper``, and MMDetection's own
``tools/train.py`` / ``tools/test.py`` (``RUNNERS.build(cfg)`` when ``runner_type`` is in
the config; ``--tta`` has already swapped in ``tta_model`` and ``tta_pipeline`` by then).
"""
from __future__ import annotations

import copy

from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .preemption import preemption_signals
from .saving import resume_checkpoint
from .sniper_settings import apply_sniper_settings


class FormatOnceConfig(Config):
    """``Config`` whose ``pretty_text`` runs yapf once per distinct content.

    Why it exists: mmengine formats the whole config with yapf every time it wants its text:
    the environment log, the two dumps, the runtime-info hook and EVERY checkpoint save. On a
    2-core CPU that is 2-3 s a time (cProfile of a ScaleShapes training, docs/demo.md: 13 s of
    the start and 2.2 s per checkpoint). The text returned is exactly mmengine's: the
    unformatted text (cheap) is the cache key, so any change to the config formats again.
    """

    @property
    def pretty_text(self) -> str:
        fmt = self._format_python_code
        object.__setattr__(self, '_format_python_code', False)
        try:
            raw = Config.pretty_text.fget(self)
        finally:
            object.__setattr__(self, '_format_python_code', fmt)
        if not fmt:
            return raw
        cached = self.__dict__.get('_formatted_once')
        if cached is None or cached[0] != raw:
            cached = (raw, Config.pretty_text.fget(self))
            object.__setattr__(self, '_formatted_once', cached)
        return cached[1]

    @classmethod
    def of(cls, cfg: Config) -> FormatOnceConfig:
        """A deep copy of ``cfg`` as a ``FormatOnceConfig`` (``cfg`` is left as it is)."""
        new = cls.__new__(cls)
        new.__dict__.update(copy.deepcopy(cfg.__dict__))
        return new


@RUNNERS.register_module()
class SniperRunner(Runner):
    """``Runner`` whose config's SNIPER components take their values from ``sniper``.

    See :func:`~mmsniper.engine.sniper_settings.apply_sniper_settings`. The config it keeps
    is a :class:`FormatOnceConfig` (the same text, formatted once instead of at every
    checkpoint). Two more differences, for training on clusters: ``--resume`` skips torn
    checkpoints (:meth:`load_or_resume`) and the preemption signals are caught before any
    data loader worker starts (:meth:`train`). Everything else is mmengine's ``Runner``.
    """

    @classmethod
    def from_cfg(cls, cfg) -> Runner:
        return super().from_cfg(FormatOnceConfig.of(apply_sniper_settings(cfg)))

    # -- fault tolerance (docs/user_guides/fault_tolerance.md) ------------------------------
    def load_or_resume(self) -> None:
        """mmengine's, except what ``resume`` takes: the newest READABLE checkpoint of the
        work directory (a torn or unreadable newer one is skipped with a warning naming it;
        none readable: an error naming each), and a ``--resume PATH`` checked before use
        (:func:`~mmsniper.engine.saving.resume_checkpoint`)."""
        if not self._has_loaded and self._resume:
            self._load_from = resume_checkpoint(self.work_dir, self._load_from)
        super().load_or_resume()

    def train(self):
        """mmengine's, with the :class:`~mmsniper.engine.PreemptionHook`'s signal handlers
        installed first: before the data loader's worker processes start, which inherit them
        (and so survive the signal; the main process stops them)."""
        with preemption_signals(self.hooks):
            return super().train()
