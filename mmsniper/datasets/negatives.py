"""The proposal file behind a :class:`~mmsniper.datasets.SniperDataset`'s negative chips.

The chips themselves are planned by :func:`mmsniper.chips.plan_epoch` (with the settings'
``neg_chips_per_img`` and ``neg_min_proposals``); this module loads the file once and
reports how it matches the data set.
"""
from __future__ import annotations

from mmengine.logging import print_log

from ..annotations import MAX_IDS, format_ids
from ..chips import BoxTable, SniperSettings
from .proposals import load_proposals


class NegativeChipSource:
    """Proposals of the images of a data set, matched by image id.

    Built once in the main process (``SniperDataset.full_init``). Images the file has no
    row for, images whose row holds zero proposals, and ids in the file that the dataset
    does not have are counted and reported once, with the first few image ids; training
    goes on (those images simply get no negative chips).

    Args:
        proposals (BoxTable): the loaded file.
        image_ids (list[int]): the data set's image ids, in dataset order.

    Attributes:
        images_without (int): images of the data set the file has no row for.
        images_empty (int): images of the data set whose row holds zero proposals.
        unknown_ids (int): image ids of the file the data set does not have.
    """

    def __init__(self, proposals: BoxTable, image_ids) -> None:
        self.proposals = proposals
        ids = [int(i) for i in image_ids]
        rows = proposals.rows_of(ids)
        missing = [i for i, r in zip(ids, rows.tolist()) if r < 0]
        counts = proposals.counts
        empty = [i for i, r in zip(ids, rows.tolist()) if r >= 0 and counts[r] == 0]
        known = proposals.image_ids.tolist() if proposals.image_ids is not None else []
        in_set = set(ids)
        unknown = [i for i in known if i not in in_set]
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
    def from_settings(cls, settings: SniperSettings, dataset) -> NegativeChipSource:
        """Load ``settings.proposals`` for ``dataset`` (a full-initialised SniperDataset)."""
        if dataset.boxes.image_ids is None:
            raise ValueError('train_dataloader.dataset: negative chips match proposals to '
                             'images by integer img_id; this data set has other ids')
        return cls(load_proposals(settings.proposals), dataset.boxes.image_ids.tolist())
