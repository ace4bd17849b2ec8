"""``ChipSamplerHook``: keeps the chip sampler in step with the runner across resumes."""
from __future__ import annotations

from typing import Optional

from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import IterBasedTrainLoop


class _FastForward:
    """Stand-in for the loop's iterator: answers the loop's resume skips without loading
    images, then hands over to the real iterator (already positioned past them)."""

    def __init__(self, real, skips: int) -> None:
        self.real, self.skips = real, skips

    def __iter__(self):
        return self

    def __next__(self):
        if self.skips > 0:
            self.skips -= 1
            return None
        return next(self.real)


@HOOKS.register_module()
class ChipSamplerHook(Hook):
    """Give :class:`~mmsniper.datasets.ChipSampler` the run's seed and position on resume.

    mmengine builds the train dataloader (and, for iteration-based loops, starts
    iterating it) BEFORE it loads a checkpoint, so the sampler first sees a fresh run's
    seed. After resume this hook:

    1. at ``before_train``, sets the sampler's seed to the runner's (a resumed run takes
       its checkpoint's seed), so every epoch's chips are those of the uninterrupted run;
    2. at ``before_train_epoch``, for an ``IterBasedTrainLoop`` resumed at iteration
       ``i``, puts this rank's sampler where it stood after ``i`` batches: the position the
       checkpoint holds (``resume_state``, written by
       :class:`~mmsniper.engine.AtomicCheckpointHook` from :meth:`rank_state`), else by
       replaying the epoch plans (annotations only); and answers the loop's ``i`` skip
       steps without loading any image (mmengine would load and discard ``i`` batches).
       Set ``fast_forward=False`` to keep mmengine's way. A resume just after an epoch's
       last batch leaves the sampler at the END of that epoch, so the next epoch's
       iterator is made when the first batch is drawn, as in the uninterrupted run (its
       creation draws from torch's random state).

    Priority ``LOW``: step 2 must come after ``DistSamplerSeedHook`` (``NORMAL``), whose
    ``before_train_epoch`` calls ``sampler.set_epoch(runner.epoch)``. An iteration-based
    loop's ``runner.epoch`` is always 0, so that call takes a sampler resumed in a later
    epoch back to epoch 0, chip 0; with ``num_workers=0`` the loader reads the sampler
    only after it, and the resumed run trained on epoch 0's chips again.

    Args:
        fast_forward (bool): see 2. Default True.
    """

    priority = 'LOW'

    def __init__(self, fast_forward: bool = True) -> None:
        self.fast_forward = fast_forward
        self._reseeded = False
        self._saved: Optional[dict] = None
        self._pos_epoch, self._pos = 0, 0  # this rank's place: (sampler epoch, chips drawn)

    # -- per-rank resume state (AtomicCheckpointHook stores it in checkpoints) -------------
    def rank_state(self, runner) -> Optional[dict]:
        """This rank's sampler position after the current iteration: seed, epoch and
        the number of its shard's chips drawn."""
        sampler = self._sampler(runner)
        if sampler is None:
            return None
        return dict(seed=int(sampler.seed), epoch=self._pos_epoch, position=self._pos,
                    iter=runner.iter + 1)

    def load_rank_state(self, runner, state: dict) -> None:
        self._saved = dict(state)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        sampler = self._sampler(runner)
        if sampler is None:
            return
        if sampler.epoch != self._pos_epoch:  # the loader rolled over to the next epoch
            self._pos_epoch, self._pos = sampler.epoch, 0
        inputs = data_batch.get('inputs') if isinstance(data_batch, dict) else None
        self._pos += len(inputs) if inputs is not None else runner.train_dataloader.batch_size

    @staticmethod
    def _sampler(runner):
        dl = runner.train_dataloader
        s = getattr(dl, 'sampler', None)
        return s if hasattr(s, 'epoch_plan') else None

    def before_train(self, runner) -> None:
        sampler = self._sampler(runner)
        if sampler is None:
            return
        self._reseeded = sampler.seed != runner.seed
        sampler.set_seed(runner.seed)

    def before_train_epoch(self, runner) -> None:
        sampler = self._sampler(runner)
        loop = runner.train_loop
        # an iteration-based loop has one "epoch": this runs once, after resume
        if sampler is None or not isinstance(loop, IterBasedTrainLoop):
            return
        reseeded, self._reseeded = self._reseeded, False
        start_iter = loop.iter
        if start_iter == 0 and not reseeded:
            return
        epoch, offset, skip = 0, 0, 0
        saved, self._saved = self._saved, None
        if start_iter > 0 and self.fast_forward:
            if (saved is not None and saved.get('iter') == start_iter
                    and saved.get('seed') == sampler.seed):
                epoch, offset, how = int(saved['epoch']), int(saved['position']), 'checkpoint'
            else:
                epoch, offset = self._locate(sampler, runner.train_dataloader, start_iter)
                how = 'replayed plans'
            skip = start_iter
            print_log(f'ChipSamplerHook: resuming at iteration {start_iter}: epoch {epoch} '
                      f'of the chip plan, chip {offset} of this rank\'s shard ({how}; no '
                      'images loaded to get there)', logger='current')
        elif start_iter > 0 and not reseeded:
            return  # mmengine skips by loading batches from its iterator, already right
        # Restart the loop's iterator with the right seed (and position).
        sampler.set_epoch(epoch)
        sampler.start = offset
        self._pos_epoch, self._pos = epoch, offset
        real = type(loop.dataloader_iterator)(runner.train_dataloader)
        real._epoch = epoch
        loop.dataloader_iterator = _FastForward(real, skip) if skip else real

    @staticmethod
    def _locate(sampler, dataloader, iters: int):
        """``(epoch, chip offset)`` of this rank after ``iters`` batches from epoch 0 (after
        an epoch's last batch: that epoch, at its end)."""
        bs = dataloader.batch_size
        drop_last = dataloader.drop_last
        epoch = 0
        while True:
            sampler.set_epoch(epoch)
            n = len(sampler.shard())
            batches = n // bs if drop_last else -(-n // bs)
            if batches == 0:
                raise RuntimeError('ChipSampler: an epoch without a single batch; '
                                   'check the data set and batch size')
            if iters <= batches:
                return epoch, iters * bs
            iters -= batches
            epoch += 1

    def after_train_epoch(self, runner) -> None:
        sampler: Optional[object] = self._sampler(runner)
        if sampler is not None:
            sampler.start = 0


@HOOKS.register_module()
class TicketLogHook(Hook):
    """Append every training batch's chip tickets to a JSON-lines file, one line per chip:
    ``iter`` (1-based) plus the fields of :func:`~mmsniper.engine.nonfinite.batch_tickets`.

    The record of what a run trained on, chip by chip: ``tools/analysis_tools/kill_resume.py``
    compares these streams between an uninterrupted run and a killed-and-resumed one.
    Written before the iteration (a killed iteration is in it); lines are flushed each time.

    Args:
        path (str): the file, relative to the work directory unless absolute.
            Default ``'tickets.jsonl'``.
    """

    priority = 'LOWEST'

    def __init__(self, path: str = 'tickets.jsonl') -> None:
        self.path = path

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        import json
        import os.path as osp

        from .nonfinite import batch_tickets

        path = self.path if osp.isabs(self.path) else osp.join(runner.work_dir, self.path)
        with open(path, 'a') as f:
            for t in batch_tickets(data_batch):
                t.pop('input_finite', None)
                f.write(json.dumps(dict(iter=runner.iter + 1, **t)) + '\n')
