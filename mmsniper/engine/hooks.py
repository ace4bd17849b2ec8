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
       ``i``, replays the epoch plans (annotations only) to find where this rank's shard
       stood after ``i`` batches, and answers the loop's ``i`` skip steps without loading
       any image (mmengine would load and discard ``i`` batches). Set
       ``fast_forward=False`` to keep mmengine's way.

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
        if start_iter > 0 and self.fast_forward:
            epoch, offset = self._locate(sampler, runner.train_dataloader, start_iter)
            skip = start_iter
            print_log(f'ChipSamplerHook: resuming at iteration {start_iter}: epoch {epoch} '
                      f'of the chip plan, chip {offset} of this rank\'s shard (no images '
                      'loaded to get there)', logger='current')
        elif start_iter > 0 and not reseeded:
            return  # mmengine skips by loading batches from its iterator, already right
        # Restart the loop's iterator with the right seed (and position).
        sampler.set_epoch(epoch)
        sampler.start = offset
        real = type(loop.dataloader_iterator)(runner.train_dataloader)
        real._epoch = epoch
        loop.dataloader_iterator = _FastForward(real, skip) if skip else real

    @staticmethod
    def _locate(sampler, dataloader, iters: int):
        """``(epoch, chip offset)`` of this rank after ``iters`` batches from epoch 0."""
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
            if iters < batches:
                return epoch, iters * bs
            iters -= batches
            epoch += 1

    def after_train_epoch(self, runner) -> None:
        sampler: Optional[object] = self._sampler(runner)
        if sampler is not None:
            sampler.start = 0
