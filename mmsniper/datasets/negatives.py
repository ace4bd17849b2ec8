"""Per-epoch negative chips of a :class:`~mmsniper.datasets.SniperDataset` from a proposal file."""
from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np
from mmengine.logging import print_log

from ..annotations import MAX_IDS, format_ids
from ..chips import Chip
from ..chips.negative import REFERENCE_MIN_PROPOSALS, generate_negative_chips
from .proposals import MAKE_CMD, ProposalSet, load_proposals


class NegativeChipSource:
    """Proposals of every image of a dataset, and the epoch's negative chips drawn from them.

    Built once in the main process (``SniperDataset.full_init``). Images the file has no
    row for, images whose row holds zero proposals, and ids in the file that the dataset
    does not have are counted and reported once, with the first few image ids; training
    goes on (those images simply get no negative chips).

    Args:
        proposals (ProposalSet): the loaded file.
        dataset (SniperDataset): the wrapped training set (annotations, settings).
        min_proposals (int | Sequence[int]): a negative chip needs more proposals than
            this, per level. Default: the reference's (25, 10, 10).
    """

    def __init__(self, proposals: ProposalSet, dataset,
                 min_proposals=REFERENCE_MIN_PROPOSALS) -> None:
        self.proposals = proposals
        self.dataset = dataset
        if isinstance(min_proposals, (list, tuple)) and len(min_proposals) != len(
                dataset.scales):
            raise ValueError(
                f'train_dataloader.dataset.negatives.min_proposals: expected one count per '
                f'scale ({len(dataset.scales)}), got {list(min_proposals)}')
        self.min_proposals = min_proposals
        ids = [int(i) for i in dataset._img_ids]
        self._rows = [proposals.row_of(i) for i in ids]
        missing = [i for i, r in zip(ids, self._rows) if r is None]
        counts = np.diff(proposals.offsets)
        empty = [i for i, r in zip(ids, self._rows) if r is not None and counts[r] == 0]
        in_set = set(ids)
        unknown = [i for i in proposals.image_ids.tolist() if i not in in_set]
        self.images_without, self.images_empty = len(missing), len(empty)
        self.unknown_ids = len(unknown)
        if missing or empty or unknown:
            parts = [f'{n} {what} ({format_ids(lst[:MAX_IDS], n, "img")})'
                     for n, what, lst in ((len(empty), 'with zero proposals', empty),
                                          (len(missing), 'not in the file', missing)) if n]
            text = (f'negative chips: {proposals.source}: {len(empty) + len(missing)} of '
                    f'{len(ids)} training images get no negative chips: {", ".join(parts)}'
                    if parts else f'negative chips: {proposals.source}: every training image '
                    'has proposals')
            if unknown:
                text += (f'; ids of the file the data set does not have (ignored): '
                         f'{len(unknown)} ({format_ids(unknown[:MAX_IDS], len(unknown), "img")})')
            print_log(text, logger='current', level=30)

    @classmethod
    def from_config(cls, cfg: Optional[dict], dataset) -> NegativeChipSource:
        cfg = dict(cfg or {})
        path = cfg.get('proposals')
        if not path:
            raise ValueError(
                'train_dataloader.dataset.neg_chips_per_img > 0 needs a proposal file: set '
                'train_dataloader.dataset.negatives.proposals (and sniper.proposals). Make '
                f'one with: {MAKE_CMD}')
        return cls(load_proposals(path), dataset,
                   cfg.get('min_proposals', REFERENCE_MIN_PROPOSALS))

    def boxes(self, idx: int) -> np.ndarray:
        """ndarray[P, 4]: proposals of image ``idx``, ORIGINAL pixels."""
        r = self._rows[idx]
        if r is None:
            return np.zeros((0, 4), np.float32)
        a, b = self.proposals.offsets[r], self.proposals.offsets[r + 1]
        return self.proposals.boxes[a:b]

    def sample(self, idx: int, positive: Sequence[Chip], n: int,
               rng: np.random.Generator) -> List[Chip]:
        """Up to ``n`` negative chips of image ``idx`` for this epoch (steps 3-4)."""
        ds = self.dataset
        _, _, size = ds.image_annotations(idx)
        chips = generate_negative_chips(self.boxes(idx), size, ds.scales, ds.train_ranges,
                                        positive, chip_size=ds.chip_size, stride=ds.stride,
                                        min_proposals=self.min_proposals, rng=rng)
        if len(chips) > n:
            pick = np.sort(rng.choice(len(chips), size=n, replace=False))
            chips = [chips[i] for i in pick]
        return chips
