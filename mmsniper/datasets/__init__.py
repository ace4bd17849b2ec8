"""Data adapters: SNIPER's transforms, the chip-aware sampler and the dataset wrapper."""
from .loading import LoadChipWindow, LoadImageForPyramid
from .pyramid import (
    PYRAMID_META_KEYS,
    PackPyramidInputs,
    PyramidResize,
    PyramidTestTimeAug,
)
from .sampler import ChipSampler
from .sniper_dataset import SniperDataset
from .tickets import ChipTicket
from .transforms import SNIPER_META_KEYS, ChipGenerator, SnipResize

__all__ = ['ChipSampler', 'SniperDataset', 'ChipTicket', 'ChipGenerator', 'SnipResize',
           'SNIPER_META_KEYS', 'PyramidResize', 'PYRAMID_META_KEYS',
           'PyramidTestTimeAug', 'PackPyramidInputs',
           'LoadChipWindow', 'LoadImageForPyramid']
