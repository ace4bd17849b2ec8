"""Chip tickets: what the chip-aware sampler hands to the data loader.

PyTorch's ``DataLoader`` passes whatever its sampler yields to ``dataset[...]``. mmsniper's
sampler yields :class:`ChipTicket` objects instead of integers, so each sample arrives in a
(persistent) worker together with the chip it must be cut to and the settings needed to cut
it. Workers therefore need no per-epoch state of their own.
"""
from __future__ import annotations

from typing import NamedTuple, Tuple

from ..chips import Chip


class ChipTicket(NamedTuple):
    """One training sample: one chip of one image.

    Attributes:
        index (int): index of the image in the wrapped dataset.
        chip (Chip): the chip; ``chip.box`` in ORIGINAL pixels, ``chip.level`` indexes
            the scales, ``chip.kind`` is ``'pos'`` or ``'neg'``.
        valid_range (tuple[float, float]): ``[lo, hi)`` of ``chip.level`` in ORIGINAL pixels
            of ``sqrt(w * h)`` (``0``/``inf`` when open).
        chip_size (int): side of the padded chip, scaled pixels.
    """

    index: int
    chip: Chip
    valid_range: Tuple[float, float]
    chip_size: int
