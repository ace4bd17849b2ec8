"""Checkpoints that cannot be torn, that resume exactly, and an auto-resume that survives
a bad one.

Three pieces (the user guide: ``docs/user_guides/fault_tolerance.md``):

* :class:`AtomicLocalBackend`: mmengine's local file backend with ``put`` / ``put_text``
  going through :func:`mmsniper.utils.atomic_write` (temporary file, fsync, rename).
  ``import mmsniper`` installs it for local paths (:func:`install_atomic_local_backend`), so
  every checkpoint mmengine saves (``save_checkpoint`` -> ``backend.put``) is atomic, whoever
  calls it.
* :class:`AtomicCheckpointHook`: ``CheckpointHook`` that also writes ``last_checkpoint``
  atomically, deletes an old checkpoint (``max_keep_ckpts``) only AFTER the new one and
  ``last_checkpoint`` are in place, stops with :class:`CheckpointSaveError` (every rank)
  when the disk is full or the directory unwritable, and stores each rank's random states
  (python, NumPy, torch) and chip sampler position in the checkpoint (``resume_state``)
  and restores them on resume, so a resumed run continues the uninterrupted one exactly.
* :func:`resume_checkpoint`: what ``--resume`` takes (``SniperRunner.load_or_resume``):
  the newest checkpoint in the work directory that is readable, with a warning naming each
  torn or unreadable one skipped, or an error naming everything tried.
"""
from __future__ import annotations

import os
import os.path as osp
import random
import re
import zipfile
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from mmdet.registry import HOOKS
from mmengine.dist import all_gather_object, all_reduce, get_dist_info, is_main_process
from mmengine.fileio.backends import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmengine.runner import IterBasedTrainLoop

from ..utils.fileio import atomic_write, is_temp_name, remove_stale_temps

__all__ = ['AtomicLocalBackend', 'install_atomic_local_backend', 'AtomicCheckpointHook',
           'CheckpointSaveError', 'CheckpointLoadError', 'rng_states', 'set_rng_states',
           'checkpoint_problem', 'checkpoint_candidates', 'resume_checkpoint']


class CheckpointSaveError(RuntimeError):
    """A checkpoint could not be written (full disk, unwritable directory, ...)."""


class CheckpointLoadError(RuntimeError):
    """No checkpoint to resume from could be read."""


# -- atomic local writes ------------------------------------------------------------------
class AtomicLocalBackend(LocalBackend):
    """mmengine's ``LocalBackend`` whose writes are atomic (temporary file in the same
    directory, fsync, rename): a crash, a kill or a full disk during ``put`` leaves the old
    file (or none), never a torn one."""

    def put(self, obj: bytes, filepath) -> None:
        atomic_write(str(filepath), obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write(str(filepath), obj, encoding=encoding)


def install_atomic_local_backend() -> None:
    """Make mmengine's backend for local paths :class:`AtomicLocalBackend` (idempotent)."""
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')


# -- random states, as plain types (the safe loader takes tensors, arrays and builtins) ----
def rng_states() -> Dict[str, Any]:
    """This process's random states: ``python`` (version, tuple of ints, gauss), ``numpy``
    (``np.random.get_state()``: name, uint32 array, ints, float), ``torch`` (uint8
    tensor) and, once CUDA is initialised, ``cuda`` (one uint8 tensor per device)."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    out = dict(python=(int(version), tuple(int(v) for v in internal), gauss),
               numpy=(str(name), np.asarray(keys, np.uint32), int(pos), int(has_gauss),
                      float(cached)),
               torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out['cuda'] = torch.cuda.get_rng_state_all()
    return out


def set_rng_states(states: Dict[str, Any]) -> None:
    """Restore :func:`rng_states` (tensors may come back on another device)."""
    version, internal, gauss = states['python']
    random.setstate((int(version), tuple(int(v) for v in internal), gauss))
    name, keys, pos, has_gauss, cached = states['numpy']
    np.random.set_state((str(name), np.asarray(keys, np.uint32), int(pos), int(has_gauss),
                         float(cached)))
    torch.set_rng_state(states['torch'].cpu())
    if 'cuda' in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in states['cuda']])


class _RestoreBeforeFirstBatch:
    """Stand-in for the loop's iterator: passes the loop's ``skips`` resume steps through,
    then restores the random states just before the first batch is drawn (as the
    uninterrupted run drew it: its flips and samplings come from these states)."""

    def __init__(self, real, skips: int, states: Dict[str, Any]) -> None:
        self.real, self.skips, self.states = real, skips, states

    def __iter__(self):
        return self

    def __next__(self):
        if self.skips > 0:
            self.skips -= 1
            return next(self.real)
        if self.states is not None:
            set_rng_states(self.states)
            self.states = None
        return next(self.real)


# -- the checkpoint hook ------------------------------------------------------------------
def _world() -> Tuple[int, int]:
    return get_dist_info()


def _any_rank(flag: bool) -> bool:
    """``flag`` OR-ed over the ranks (a collective when distributed)."""
    if _world()[1] == 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0])
    all_reduce(t, op='max')
    return bool(t.item() > 0)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` whose checkpoints are never torn, never lost to a full disk, and
    resume exactly. Same arguments as mmengine's ``CheckpointHook``.

    Differences, all in the saving step:

    1. the checkpoint is written to a temporary name, fsynced and renamed
       (:class:`AtomicLocalBackend`), and so is ``last_checkpoint``;
    2. with ``max_keep_ckpts``, the oldest checkpoint is deleted only after the new one and
       ``last_checkpoint`` are in place (mmengine deletes it first: with
       ``max_keep_ckpts=1`` a failed save left no checkpoint at all);
    3. a save that fails (``OSError``: ``ENOSPC``, ``EACCES``, ``EROFS``, ...) stops
       training on every rank with :class:`CheckpointSaveError`, naming the file, the
       reason and the previous checkpoint, which is intact and still the one
       ``last_checkpoint`` names;
    4. every checkpoint holds ``resume_state``: per rank, the python / NumPy / torch (and
       CUDA) random states and the chip sampler's position
       (:class:`~mmsniper.engine.ChipSamplerHook`), gathered from all ranks (iteration-based
       saves) and written by rank 0. On ``--resume`` each rank gets its own back: the random
       states are restored just before the first batch is drawn, so flips and proposal
       sampling continue the uninterrupted run's streams (bit-exact weights on the CPU,
       ``num_workers=0``; worker processes reseed themselves when they start);
    5. validation during training runs on a copy of the random states (restored after it),
       so evaluating at an interval does not shift the training's streams;
    6. at the start of training, temporary files of killed writers are removed from the
       checkpoint directory.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pending: Optional[dict] = None
        self._restore: Optional[Dict[str, Any]] = None
        self._val_states: Optional[Dict[str, Any]] = None
        self._training = False

    # -- resume ---------------------------------------------------------------------------
    def before_train(self, runner) -> None:
        super().before_train(runner)
        self._training = True
        if is_main_process() and isinstance(self.file_backend, LocalBackend):
            for path in remove_stale_temps(self.out_dir) + (
                    remove_stale_temps(runner.work_dir) if runner.work_dir != self.out_dir
                    else []):
                runner.logger.info(f'removed {path}: a write killed before it finished')

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not getattr(runner, '_resume', False):
            return  # load_from (fine-tuning, testing): a fresh start, not a continuation
        state = checkpoint.get('resume_state')
        rank, world_size = _world()
        if not isinstance(state, dict) or state.get('world_size') != world_size:
            why = ('it has none (saved by another hook or an older mmsniper)'
                   if not isinstance(state, dict) else
                   f'it was saved by {state.get("world_size")} processes, this run has '
                   f'{world_size}')
            print_log(f'AtomicCheckpointHook: the checkpoint\'s random states are not restored: '
                      f'{why}; flips and sampling restart from the seed (the chips are still '
                      'those of the uninterrupted run)', logger='current', level=30)
            return
        mine = state['ranks'][rank]
        self._restore = mine.get('rng')
        for hook in runner.hooks:
            key = type(hook).__name__
            if key in mine and hasattr(hook, 'load_rank_state'):
                hook.load_rank_state(runner, mine[key])

    def before_train_epoch(self, runner) -> None:
        if self._restore is None:
            return
        states, self._restore = self._restore, None
        loop = runner.train_loop
        if isinstance(loop, IterBasedTrainLoop):
            # after ChipSamplerHook (LOW) replaced the iterator; the loop still skips
            # ``loop.iter`` steps, then draws its first batch
            loop.dataloader_iterator = _RestoreBeforeFirstBatch(loop.dataloader_iterator,
                                                                loop.iter, states)
        else:
            set_rng_states(states)

    def before_val(self, runner) -> None:
        if self._training:
            self._val_states = rng_states()

    def after_val(self, runner) -> None:
        if self._val_states is not None:
            set_rng_states(self._val_states)
            self._val_states = None

    def after_train(self, runner) -> None:
        self._training = False
        super().after_train(runner)

    # -- save -----------------------------------------------------------------------------
    def _rank_state(self, runner) -> dict:
        state: Dict[str, Any] = dict(rng=self._val_states or rng_states())
        for hook in runner.hooks:
            if hook is not self and hasattr(hook, 'rank_state'):
                value = hook.rank_state(runner)
                if value is not None:
                    state[type(hook).__name__] = value
        return state

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        pending, self._pending = self._pending, None
        if pending is None:  # a save outside this hook (runner.save_checkpoint called directly)
            pending = dict(world_size=_world()[1], ranks=[self._rank_state(runner)])
        checkpoint['resume_state'] = pending

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        # by-epoch saves run on rank 0 only (mmengine's after_train_epoch is master_only):
        # no collective there
        collective = not self.by_epoch and _world()[1] > 1
        mine = self._rank_state(runner)
        ranks = all_gather_object(mine) if collective else [mine]
        self._pending = dict(world_size=_world()[1] if collective else 1, ranks=ranks)

        filename = self.filename_tmpl.format(step)
        path = self.file_backend.join_path(self.out_dir, filename)
        previous = self.last_ckpt or runner.message_hub.get_info('last_ckpt')
        remove: List[int] = []
        keeping = self.max_keep_ckpts > 0
        keep = list(self.keep_ckpt_ids) if keeping else []
        if keeping and not (keep and keep[-1] == step):
            keep.append(step)
            while len(keep) > self.max_keep_ckpts:
                remove.append(keep.pop(0))
        # what the checkpoint's message hub must say (mmengine's bookkeeping)
        if keeping:
            runner.message_hub.update_info('keep_ckpt_ids', keep)
        runner.message_hub.update_info('last_ckpt', path)
        error: Optional[BaseException] = None
        if is_main_process():
            try:
                runner.save_checkpoint(
                    self.out_dir, filename, self.file_client_args,
                    save_optimizer=self.save_optimizer,
                    save_param_scheduler=self.save_param_scheduler, meta=meta,
                    by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
                atomic_write(osp.join(runner.work_dir, 'last_checkpoint'), path)
            except OSError as e:
                error = e
        self._pending = None
        failed = _any_rank(error is not None) if collective else error is not None
        if failed:
            if keeping:
                runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
            runner.message_hub.update_info('last_ckpt', previous)
            if error is None:
                raise CheckpointSaveError(f'rank 0 could not save checkpoint {path}; see its log')
            kept = (f'the previous checkpoint {previous} is intact and last_checkpoint still '
                    'names it: --resume continues from it' if previous else
                    'there is no earlier checkpoint of this run')
            raise CheckpointSaveError(
                f'could not save checkpoint {path} at iteration {runner.iter + 1}: '
                f'{error.strerror or error} ({type(error).__name__}, errno {error.errno}). '
                f'Nothing was replaced: {kept}. Free space in {self.out_dir} (or make it '
                'writable, or train with another --work-dir) and run again with --resume.'
            ) from error
        self.last_ckpt = path
        if keeping:
            self.keep_ckpt_ids.clear()
            self.keep_ckpt_ids.extend(keep)
        if is_main_process():
            for old in remove:
                old_path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old))
                if self.file_backend.isfile(old_path):
                    self.file_backend.remove(old_path)
                elif self.file_backend.isdir(old_path):
                    self.file_backend.rmtree(old_path)  # deepspeed saves directories


# -- which checkpoint --resume takes ------------------------------------------------------
_STEP = re.compile(r'_(\d+)\.pth$')


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` cannot be resumed from (missing, empty, truncated, corrupt), or None.

    Reads the file without unpickling it: a torch checkpoint is a zip archive whose
    directory is at its end (a truncated file has none) and whose members carry CRC32
    checksums (``testzip`` reads every byte once). A file in torch's legacy format is
    loaded with the safe loader instead.
    """
    if not osp.isfile(path):
        return 'missing'
    size = osp.getsize(path)
    if size == 0:
        return 'empty (0 bytes)'
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
            if bad is not None:
                return f'corrupt ({size} bytes): member {bad} fails its checksum'
            if not any(n.endswith('data.pkl') for n in z.namelist()):
                return f'not a torch checkpoint ({size} bytes, no data.pkl)'
        return None
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        with open(path, 'rb') as f:
            zip_magic = f.read(4) == b'PK\x03\x04'
        if zip_magic:
            return f'truncated or torn ({size} bytes: {e})'
    from .checkpoint import safe_load  # torch's legacy (pre-zip) format
    try:
        safe_load(path, map_location='cpu')
    except Exception as e:  # noqa: BLE001  any failure to read means: not resumable
        return f'unreadable ({size} bytes: {type(e).__name__}: {str(e).splitlines()[0][:200]})'
    return None


def checkpoint_candidates(work_dir: str) -> List[str]:
    """The checkpoints ``--resume`` may take, newest first.

    The file ``last_checkpoint`` names, and every ``*_<number>.pth`` in ``work_dir`` and in
    that file's directory (not ``best_*``, not temporary files), ordered by modification
    time (newest first; ties: the one ``last_checkpoint`` names, then the higher number).
    A file newer than the one ``last_checkpoint`` names comes first: a kill between a
    checkpoint's rename and ``last_checkpoint``'s leaves exactly that.
    """
    named = None
    last = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(last):
        try:
            with open(last) as f:
                named = f.read().strip() or None
        except OSError:
            named = None
    folders = {osp.abspath(work_dir)}
    if named:
        folders.add(osp.dirname(osp.abspath(named)))
    found = {}
    for folder in folders:
        if not osp.isdir(folder):
            continue
        for name in os.listdir(folder):
            if (name.endswith('.pth') and _STEP.search(name) and not name.startswith('best_')
                    and not is_temp_name(name)):
                path = osp.join(folder, name)
                found[osp.abspath(path)] = path

    def key(path: str) -> tuple:
        m = _STEP.search(path)
        is_named = named is not None and osp.abspath(path) == osp.abspath(named)
        return (osp.getmtime(path), is_named, int(m.group(1)) if m else -1)

    ordered = sorted(found.values(), key=key, reverse=True)
    if named and osp.abspath(named) not in found:
        ordered.insert(0, named)  # named but missing: reported as such
    return ordered


def resume_checkpoint(work_dir: str, explicit: Optional[str] = None) -> Optional[str]:
    """The checkpoint to resume from.

    Args:
        work_dir (str): the run's work directory.
        explicit (str, optional): ``--resume PATH``: checked, never replaced.

    Returns:
        str | None: the newest readable checkpoint; None when the work directory has no
        checkpoint at all (a first start: training begins at iteration 0).

    Raises:
        CheckpointLoadError: ``explicit`` cannot be read, or none of the candidates can
            (each is named with its problem).
    """
    if explicit is not None:
        problem = checkpoint_problem(explicit)
        if problem:
            raise CheckpointLoadError(
                f'cannot resume from {explicit}: {problem}. Run --resume without a path to '
                f'take the newest readable checkpoint of {work_dir}.')
        return explicit
    tried = []
    for path in checkpoint_candidates(work_dir):
        problem = checkpoint_problem(path)
        if problem is None:
            if tried:
                print_log(f'resuming from {path}, the newest readable checkpoint in '
                          f'{work_dir} (skipped: {"; ".join(tried)})', logger='current',
                          level=30)
            return path
        tried.append(f'{path}: {problem}')
        print_log(f'cannot resume from {path}: {problem}; trying an older checkpoint',
                  logger='current', level=30)
    if tried:
        raise CheckpointLoadError(
            f'--resume: no readable checkpoint in {work_dir}. Tried, newest first:\n  ' +
            '\n  '.join(tried) + '\nStart without --resume (from iteration 0), or resume '
            'from a copy of a good checkpoint with --resume PATH.')
    if osp.isfile(osp.join(work_dir, 'last_checkpoint')):
        raise CheckpointLoadError(
            f'--resume: {osp.join(work_dir, "last_checkpoint")} names no checkpoint and '
            f'{work_dir} holds none (*_<number>.pth); start without --resume.')
    return None
