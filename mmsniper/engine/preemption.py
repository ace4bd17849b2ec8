"""Preemption: on SIGTERM / SIGUSR1, finish the iteration, checkpoint it, exit with 75.

Clusters stop jobs with a signal and a grace period: Slurm sends SIGTERM on preemption
or cancellation (then SIGKILL after ``KillWait``), and SIGUSR1 ``N`` seconds before the time
limit when asked with ``--signal=USR1@N`` (``tools/slurm_train.sh`` asks, and requeues the
job when training exits with :data:`EXIT_PREEMPTED`). :class:`PreemptionHook` turns either
signal into: finish the current iteration, write a checkpoint of it (the run's checkpoint
hook, rank 0 writing once), log what it did, and exit with status 75 (``EX_TEMPFAIL``:
"try again"). ``--resume`` then continues at the next iteration, exactly
(:class:`~mmsniper.engine.AtomicCheckpointHook` keeps the random states).

Every rank checks after every iteration whether ANY rank got a signal (an ``all_reduce``
of one number), so all ranks stop after the same iteration even when the signal reached
only some of them.

The handlers are installed by :class:`~mmsniper.engine.SniperRunner` around ``train()``,
before the data loader's worker processes start: forked workers inherit them and ignore
the signal (the main process stops them), where Python's default would kill a worker on
SIGUSR1 and fail the step. With mmengine's plain ``Runner`` the hook installs them at
``before_train``, after the workers started (it warns when there are workers).
"""
from __future__ import annotations

import contextlib
import os
import os.path as osp
import signal
import threading
from typing import Iterator, Optional, Sequence

import torch
from mmdet.registry import HOOKS
from mmengine.dist import all_reduce, get_dist_info, is_main_process
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log
from mmengine.runner import IterBasedTrainLoop

from ..utils.fileio import atomic_write

__all__ = ['EXIT_PREEMPTED', 'TrainingPreempted', 'PreemptionHook', 'preemption_signals']

#: Exit status of a training stopped by a signal after checkpointing (``EX_TEMPFAIL``).
EXIT_PREEMPTED = 75


class TrainingPreempted(SystemExit):
    """Raised at the end of a run stopped by a signal; the process exits with its code."""


class _State:
    pid: Optional[int] = None          # the process that installed the handlers
    received: Optional[int] = None     # first signal number received
    previous: dict = {}


def _handler(signum, frame) -> None:
    if os.getpid() != _State.pid:
        return  # a forked data loader worker: the main process decides, and stops it
    if _State.received is None:
        _State.received = signum


def _signal_numbers(names: Sequence[str]) -> list:
    out = []
    for name in names:
        num = getattr(signal, str(name).upper(), None)
        if not isinstance(num, signal.Signals):
            raise ValueError(f'PreemptionHook.signals: unknown signal {name!r} (e.g. SIGTERM, '
                             'SIGUSR1)')
        out.append(num)
    return out


def _install(names: Sequence[str]) -> bool:
    if threading.current_thread() is not threading.main_thread() or _State.pid == os.getpid():
        return False
    _State.pid, _State.received = os.getpid(), None
    _State.previous = {num: signal.signal(num, _handler) for num in _signal_numbers(names)}
    return True


def _uninstall() -> None:
    for num, old in _State.previous.items():
        signal.signal(num, old if old is not None else signal.SIG_DFL)
    _State.pid, _State.previous = None, {}


@contextlib.contextmanager
def preemption_signals(hooks: Sequence[Hook]) -> Iterator[None]:
    """Install the signal handlers of the :class:`PreemptionHook` among ``hooks`` for the
    duration of the block (nothing without one, or outside the main thread)."""
    hook = next((h for h in hooks if isinstance(h, PreemptionHook)), None)
    installed = hook is not None and bool(hook.signals) and _install(hook.signals)
    try:
        yield
    finally:
        if installed:
            _uninstall()


def _checkpoint_hook(runner) -> Optional[CheckpointHook]:
    return next((h for h in runner.hooks if isinstance(h, CheckpointHook)), None)


@HOOKS.register_module()
class PreemptionHook(Hook):
    """Stop on SIGTERM / SIGUSR1 after the current iteration, with a checkpoint of it.

    After every iteration, all ranks agree (one ``all_reduce``) whether any got one of
    ``signals``. If so: the iteration's checkpoint is written through the run's checkpoint
    hook (the same ``iter_<n>.pth`` / ``last_checkpoint`` / ``max_keep_ckpts`` rules; not
    twice when the interval already saved it), the loop stops, and at the end of the run
    the process exits with ``exit_code`` (:class:`TrainingPreempted`, a ``SystemExit``).

    Priority ``LOWEST``: the iteration's logging and interval checkpoint come first.
    Exact continuation needs an ``IterBasedTrainLoop`` (mmsniper's schedules); an
    ``EpochBasedTrainLoop`` is stopped and checkpointed the same way, but mmengine resumes
    it from the start of the epoch.

    Args:
        signals (Sequence[str]): the signals that stop training; empty: none (the hook
            does nothing). Default ``('SIGTERM', 'SIGUSR1')``.
        exit_code (int): the process's exit status after such a stop. Default 75.
    """

    priority = 'LOWEST'

    def __init__(self, signals: Sequence[str] = ('SIGTERM', 'SIGUSR1'),
                 exit_code: int = EXIT_PREEMPTED) -> None:
        _signal_numbers(signals)
        self.signals = tuple(signals)
        self.exit_code = int(exit_code)
        self._own = False
        self._stopped: Optional[str] = None

    def before_train(self, runner) -> None:
        if _State.pid == os.getpid() or not self.signals:
            return
        self._own = _install(self.signals)
        if self._own and getattr(runner.train_dataloader, 'num_workers', 0):
            print_log('PreemptionHook: signal handlers installed after the data loader '
                      'workers started (use runner_type=\'SniperRunner\' to install them '
                      'before): a worker may die on the signal', logger='current', level=30)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self.signals:
            return
        signum = torch.tensor([float(_State.received or 0)])
        if get_dist_info()[1] > 1:
            all_reduce(signum, op='max')
        if signum.item() == 0:
            return
        name = signal.Signals(int(signum.item())).name
        step = runner.iter + 1
        loop = runner.train_loop
        if isinstance(loop, IterBasedTrainLoop) and step >= loop.max_iters:
            runner.logger.warning(f'PreemptionHook: {name} received in the last iteration; '
                                  'training is complete, nothing to resume')
            _State.received = None
            return
        ckpt = _checkpoint_hook(runner)
        path = None
        if ckpt is not None and not ckpt.by_epoch:
            done = osp.basename(str(ckpt.last_ckpt or '')) == ckpt.filename_tmpl.format(step)
            if not done:
                ckpt._save_checkpoint(runner)
            path = ckpt.last_ckpt
        else:  # no iteration checkpoints configured: save one the same way
            filename = f'iter_{step}.pth'
            runner.save_checkpoint(runner.work_dir, filename, by_epoch=False)
            path = osp.join(runner.work_dir, filename)
            if is_main_process():
                atomic_write(osp.join(runner.work_dir, 'last_checkpoint'), path)
        self._stopped = (f'PreemptionHook: {name} received; iteration {step} finished and '
                         f'saved to {path}; stopping with exit status {self.exit_code}. '
                         'Continue with: tools/train.py CONFIG --work-dir '
                         f'{runner.work_dir} --resume')
        runner.logger.warning(self._stopped)
        loop.stop_training = True
        if not isinstance(loop, IterBasedTrainLoop):
            self._finish()  # an epoch loop checks stop_training only between epochs

    def after_run(self, runner) -> None:
        if self._own:
            _uninstall()
            self._own = False
        if self._stopped:
            self._finish()

    def _finish(self) -> None:
        self._stopped = None
        _State.received = None
        raise TrainingPreempted(self.exit_code)
