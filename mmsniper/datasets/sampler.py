"""``ChipSampler``: every epoch's chips of every image, shuffled together, sharded by rank."""
from __future__ import annotations

from typing import Iterator, List, Optional

import numpy as np
from mmdet.registry import DATA_SAMPLERS
from mmengine.dist import get_dist_info, sync_random_seed
from mmengine.logging import print_log
from torch.utils.data import Sampler

from .tickets import ChipTicket


@DATA_SAMPLERS.register_module()
class ChipSampler(Sampler):
    """Yield the chip tickets of one epoch, shuffled across all images, one shard per rank.

    Contract (read before changing):

    1. Which process runs it: the MAIN process of every rank. ``__iter__`` asks the dataset
       (a :class:`~mmsniper.datasets.SniperDataset`) for the epoch's plan, which reads
       annotations only; the workers receive finished :class:`ChipTicket` objects through
       ``dataset[ticket]`` and need no state of their own (they are persistent: state set
       on the main process after they start would never reach them).
    2. The plan is a pure function of ``(seed, epoch)``, so every rank computes the same
       plan and the same permutation, with no communication.
    3. Sharding: rank ``r`` of ``W`` takes positions ``r, r + W, r + 2W, ...`` of the
       permutation. The shards are disjoint and their union is the whole plan: no chip is
       lost or repeated. Trap: when the number of chips is not a multiple of ``W``, shard
       lengths differ by one. Iteration-based loops (mmsniper's configs) are unaffected:
       each rank rolls over to its next epoch on its own. For an ``EpochBasedTrainLoop``
       with several ranks, set ``pad_to_equal=True``: the short shards then repeat their
       own first chip (at most one repeat per rank and epoch), so every rank runs the same
       number of iterations and DDP cannot hang.
    4. Resume: ``set_epoch`` (called by ``DistSamplerSeedHook`` and by mmengine's infinite
       iterator) selects the plan; :class:`~mmsniper.engine.ChipSamplerHook` gives the
       sampler the resumed run's seed, so a resumed run replays the same epochs.
    5. ``len()`` is this rank's number of chips in the current epoch (it changes from
       epoch to epoch because chips are regenerated); iteration schedules can be derived
       from ``len(sampler) // batch_size``.

    Args:
        dataset (SniperDataset): the wrapped training set.
        shuffle (bool): shuffle the chips of all images together. Default True.
        seed (int, optional): base seed; ``None`` takes the runner's seed (mmengine passes
            it) or a seed synchronised across ranks.
        pad_to_equal (bool): see 3. Default False.
    """

    def __init__(self, dataset, shuffle: bool = True, seed: Optional[int] = None,
                 pad_to_equal: bool = False) -> None:
        if not hasattr(dataset, 'plan_epoch'):
            raise TypeError('ChipSampler: expected train_dataloader.dataset of type '
                            f'SniperDataset, got {type(dataset).__name__}; wrap the dataset: '
                            "dataset=dict(type='SniperDataset', dataset=...)")
        self.dataset = dataset
        self.rank, self.world_size = get_dist_info()
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else int(seed)
        self.pad_to_equal = pad_to_equal
        self.epoch = 0
        self.start = 0  # first position of the shard to yield (resume), reset each epoch
        self._cache: Optional[tuple] = None

    def set_epoch(self, epoch: int) -> None:
        if int(epoch) != self.epoch:
            self.start = 0
        self.epoch = int(epoch)

    def set_seed(self, seed: int) -> None:
        self.seed = int(seed)

    def epoch_plan(self) -> List[ChipTicket]:
        """The whole epoch's tickets in permuted order (same on every rank)."""
        key = (self.seed, self.epoch)
        if self._cache is None or self._cache[0] != key:
            plan = self.dataset.plan_epoch(self.epoch, self.seed)
            if not plan:
                st = self.dataset.last_plan_stats
                raise RuntimeError(
                    f'ChipSampler: epoch {self.epoch} has no chips: none of the '
                    f'{st.get("images")} training images has a box valid at any level. '
                    'Check that the dataset\'s metainfo classes match the annotation file\'s '
                    'category names (boxes of other classes are not loaded), the valid '
                    'ranges (sniper.train_ranges), or switch on negative chips.')
            if self.shuffle:
                order = np.random.default_rng([self.seed & 0xFFFFFFFF, self.epoch, 7]) \
                    .permutation(len(plan))
                plan = [plan[i] for i in order]
            self._cache = (key, plan)
            self._log(self.dataset.last_plan_stats)
        return self._cache[1]

    def shard(self) -> List[ChipTicket]:
        """This rank's tickets for the current epoch."""
        plan = self.epoch_plan()
        mine = plan[self.rank::self.world_size]
        if self.pad_to_equal and self.world_size > 1 and plan:
            need = -(-len(plan) // self.world_size)
            mine = mine + mine[:need - len(mine)]
        return mine

    def __iter__(self) -> Iterator[ChipTicket]:
        start, self.start = self.start, 0
        return iter(self.shard()[start:])

    def __len__(self) -> int:
        return len(self.shard())

    def _log(self, st: dict) -> None:
        if not st or self.rank != 0:
            return
        msg = (f'SNIPER epoch {st["epoch"]}: {st["pos_chips"]} positive + {st["neg_chips"]} '
               f'negative chips from {st["images"]} images; {st["chip_pixels"] / 1e6:.1f} MP of '
               f'chips = {st["pixel_ratio"]:.2f}x single-scale; planned in {st["seconds"]:.2f} s')
        if st['boxes_valid_nowhere']:
            msg += (f'; {st["boxes_valid_nowhere"]} boxes lie in no chip in full (outside every '
                    'valid range, or under min_size where they are in range): they stay as '
                    'ignored boxes wherever a chip shows them (chip_stats.py tells which level)')
        print_log(msg, logger='current')
