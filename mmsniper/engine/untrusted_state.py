"""What mmengine does with a loaded checkpoint or data file, made safe for untrusted files.

The loader (:mod:`mmsniper.engine.checkpoint`) builds data only, but mmengine then ACTS on
that data. Three small patches, installed by ``import mmsniper`` (idempotent), each for a
path that ran code or deleted files with a checkpoint made of data alone:

1. ``Runner.resume`` (and ``FlexibleRunner.resume``) see the checkpoint through
   :func:`clean_resumed_checkpoint`: mmengine passes ``meta['config']`` to
   ``Config.fromstring(..., '.py')``, which EXECUTES it (Python text); the message hub's
   ``runtime_info`` was restored as it came, so ``CheckpointHook`` removed the path in
   ``best_ckpt`` (a directory recursively) and ``keep_ckpt_ids`` deleted checkpoints, and
   its ``cfg`` text was copied into every checkpoint saved afterwards.
2. ``BaseInferencer._init_model`` (MMDetection's ``DetInferencer``, ``demo/image_demo.py``)
   executed ``runtime_info['cfg']`` / ``meta['cfg']`` when given weights without a config;
   now that is an error asking for the config.
3. ``mmengine.load`` / ``mmengine.fileio.load`` of ``.pkl`` / ``.pickle`` (a config's
   ``ann_file``, MMDetection's ``proposal_file``) was a plain ``pickle.load``; now the
   restricted unpickler of :mod:`mmsniper.engine.safe_pickle` (plain data, NumPy arrays,
   ``InstanceData``), which refuses anything else naming the file and the safe formats.
"""
from __future__ import annotations

import functools
import logging
import numbers
import os.path as osp
import sys
from typing import IO, Any, Callable, Dict, Optional

from mmengine.logging import HistoryBuffer, print_log

from .safe_pickle import UnsafeCheckpointError, load_pickle

__all__ = ['clean_resumed_checkpoint', 'install_untrusted_input_guards',
           'ConfigRequiredError', 'RESUMED_INFO_KEYS']


class ConfigRequiredError(ValueError):
    """An inferencer was given weights without the config they were trained with."""


def _nonneg_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0


def _number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


#: runtime_info keys resuming restores (exact names), with the check their value must pass.
#: Everything else (``cfg``, ``dataset_meta``, ``experiment_name``, ``eta``, ``val/...``)
#: is dropped: the running job sets its own.
RESUMED_INFO_KEYS: Dict[str, Callable[[Any], bool]] = {
    'epoch': _nonneg_int, 'iter': _nonneg_int, 'max_epochs': _nonneg_int,
    'max_iters': _nonneg_int, 'seed': lambda v: _nonneg_int(v) and v < 2**32,
    'loop_stage': lambda v: v in ('train', 'val', 'test'),
    'best_score': _number,
    'nonfinite_skipped': _nonneg_int,  # NonFiniteLossHook's count of skipped steps (#30)
}
#: Prefixes of per-metric keys (``best_score_<metric>``, ``best_ckpt_<metric>``).
_PATH_KEYS = ('best_ckpt', 'last_ckpt')


def _inside(path: Any, work_dir: str) -> bool:
    """``path`` is a file name strictly inside ``work_dir`` (links resolved), not a folder."""
    if not isinstance(path, str) or not path or '\0' in path:
        return False
    real, root = osp.realpath(path), osp.realpath(work_dir)
    return real.startswith(root + osp.sep) and not osp.isdir(real)


def _warn(msg: str) -> None:
    print_log(msg, logger='current', level=logging.WARNING)


def clean_resumed_checkpoint(checkpoint: Any, source: str, work_dir: str) -> dict:
    """Keep of a checkpoint's run state only what resuming needs, of the types it needs.

    * ``meta['config']`` (an mmcv 1.x config's text, which mmengine executes to read
      ``gpu_ids``) is removed; ``meta['epoch']`` / ``meta['iter']`` must be non-negative
      ints; a ``meta['seed']`` that is not an int in ``[0, 2**32)`` is dropped.
    * ``message_hub['runtime_info']`` keeps :data:`RESUMED_INFO_KEYS`, ``best_score_*``
      numbers, and ``best_ckpt[_*]`` / ``last_ckpt`` paths naming files inside
      ``work_dir``; ``keep_ckpt_ids`` (checkpoints the keep policy will delete) only as
      non-negative ints and only when ``source`` itself lies in ``work_dir`` (ids of a
      checkpoint from elsewhere name another run's files). Paths and ids ignored are
      logged as warnings; ``resumed_keys`` follows what is kept.

    Args:
        checkpoint (dict): as loaded (modified in place and returned).
        source (str): where it was loaded from (path or URL).
        work_dir (str): the running job's work directory.

    Raises:
        UnsafeCheckpointError: no ``meta`` with integer ``epoch`` and ``iter``.
    """
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    if not (isinstance(meta, dict) and _nonneg_int(meta.get('epoch'))
            and _nonneg_int(meta.get('iter'))):
        raise UnsafeCheckpointError(f'checkpoint {source} cannot be resumed: it has no meta '
                                    'with integer epoch and iter (not a training checkpoint)')
    if meta.pop('config', None) is not None:
        print_log(f'checkpoint {source}: meta["config"] (config text) is ignored; checkpoint '
                  'text is never executed', logger='current')
    if 'seed' in meta and not (meta['seed'] is None or RESUMED_INFO_KEYS['seed'](meta['seed'])):
        _warn(f'checkpoint {source}: meta["seed"] {meta.pop("seed")!r:.40} is not a seed; '
              'ignored')
    hub = checkpoint.get('message_hub')
    if not isinstance(hub, dict):
        return checkpoint
    info = hub.get('runtime_info')
    info = info if isinstance(info, dict) else {}
    own_file = _inside(source, work_dir)
    kept: Dict[str, Any] = {}
    for key, value in info.items():
        if not isinstance(key, str):
            continue
        if key in RESUMED_INFO_KEYS:
            ok = RESUMED_INFO_KEYS[key](value)
        elif key.startswith('best_score_'):
            ok = _number(value)
        elif key in _PATH_KEYS or key.startswith('best_ckpt_'):
            ok = _inside(value, work_dir)
            if not ok:
                _warn(f'checkpoint {source}: runtime_info[{key!r}] = {value!r:.200} is not a '
                      f'file inside the work directory {work_dir}; ignored (it is not '
                      'removed or used)')
        elif key == 'keep_ckpt_ids':
            ok = own_file and isinstance(value, list) and all(map(_nonneg_int, value))
            if not ok:
                _warn(f'checkpoint {source}: runtime_info["keep_ckpt_ids"] ignored (only the '
                      'integer ids of a checkpoint inside the work directory name checkpoints '
                      'the keep policy may delete)')
        else:
            ok = False
        if ok:
            kept[key] = value
    dropped = sorted(set(map(str, info)) - set(kept))
    if dropped:
        print_log(f'checkpoint {source}: runtime_info {dropped} not restored (the running job '
                  'sets its own)', logger='current')
    resumed = hub.get('resumed_keys')
    scalars = hub.get('log_scalars')
    scalars = {k: v for k, v in scalars.items() if isinstance(k, str)
               and isinstance(v, HistoryBuffer)} if isinstance(scalars, dict) else {}
    hub.update(runtime_info=kept, log_scalars=scalars, resumed_keys={
        k: v for k, v in resumed.items() if (k in kept or k in scalars) and isinstance(v, bool)
    } if isinstance(resumed, dict) else {})
    return checkpoint


def _guard_resume(runner_cls: type, loader_of: Callable[[Any], Any], attr: str) -> None:
    """Wrap ``runner_cls.resume`` so that the checkpoint it loads (``loader_of(runner).attr``)
    is cleaned before mmengine reads it."""
    original = runner_cls.resume
    if getattr(original, '_mmsniper_guarded', False):
        return

    @functools.wraps(original)
    def resume(self, filename: str, *args: Any, **kwargs: Any) -> Any:
        owner = loader_of(self)
        load = getattr(owner, attr)

        def load_and_clean(*a: Any, **k: Any) -> dict:
            return clean_resumed_checkpoint(load(*a, **k), filename, self.work_dir)

        setattr(owner, attr, load_and_clean)  # an instance attribute over the method
        try:
            return original(self, filename, *args, **kwargs)
        finally:
            delattr(owner, attr)

    resume._mmsniper_guarded = True
    runner_cls.resume = resume


def _guard_inferencer() -> None:
    from mmengine.infer import BaseInferencer

    original = BaseInferencer._init_model
    if getattr(original, '_mmsniper_guarded', False):
        return

    @functools.wraps(original)
    def _init_model(self, cfg: Any, weights: Optional[str], device: str = 'cpu') -> Any:
        if not cfg:
            name = type(self).__name__
            raise ConfigRequiredError(
                f'{name} was given the weights {weights!r} without a config. The config '
                'text stored inside a checkpoint is not executed (mmsniper: checkpoints run '
                f'no code). Pass the config file the weights were trained with: '
                f'{name}(model="path/to/config.py", weights={weights!r}) (for MMDetection\'s '
                'demo/image_demo.py: the config as "model" and --weights CHECKPOINT).')
        return original(self, cfg, weights, device)

    _init_model._mmsniper_guarded = True
    BaseInferencer._init_model = _init_model


#: What the refusal of a pickled data file suggests instead.
SAFE_DATA_FORMATS = ('COCO JSON annotations (CocoDataset), or the project\'s .npz proposal '
                     'files (tools/extract_proposals.py; mmsniper.datasets.proposals)')


def _caller_file_name() -> str:
    """The file ``mmengine.fileio.load`` was given (it hands handlers a BytesIO only)."""
    from mmengine.fileio import io as fileio

    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code is fileio.load.__code__:
            file = frame.f_locals.get('file')
            return str(file) if isinstance(file, str) or hasattr(file, '__fspath__') \
                else getattr(file, 'name', '<stream>')
        frame = frame.f_back
    return '<stream>'


def _pickle_handler() -> Any:
    from mmengine.fileio.handlers import PickleHandler

    class RestrictedPickleHandler(PickleHandler):
        """mmengine's ``.pkl`` handler with :func:`~mmsniper.engine.safe_pickle.load_pickle`
        for reading; writing is unchanged."""

        def load_from_fileobj(self, file: IO[bytes], **kwargs: Any) -> Any:
            name = getattr(file, 'name', None) or _caller_file_name()
            try:
                return load_pickle(file, name)
            except UnsafeCheckpointError as e:
                raise UnsafeCheckpointError(
                    f'{e}. mmsniper reads pickled data files without running code from them '
                    f'(plain data and NumPy arrays only); use {SAFE_DATA_FORMATS}.') from None

        def load_from_path(self, filepath: str, **kwargs: Any) -> Any:
            with open(filepath, 'rb') as f:
                return self.load_from_fileobj(f, **kwargs)

    return RestrictedPickleHandler


def install_untrusted_input_guards() -> None:
    """Install the three patches described in the module docstring (idempotent)."""
    from mmengine.fileio.handlers import file_handlers, register_handler
    from mmengine.runner import FlexibleRunner, Runner

    _guard_resume(Runner, lambda runner: runner, 'load_checkpoint')
    _guard_resume(FlexibleRunner, lambda runner: runner.strategy, 'resume')
    _guard_inferencer()
    if type(file_handlers.get('pkl')).__name__ != 'RestrictedPickleHandler':
        register_handler(['pickle', 'pkl'])(_pickle_handler())
