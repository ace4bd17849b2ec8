"""SNIPER chip engine: framework-free (NumPy only).

Scale factors, valid ranges, positive chips by greedy cover, per-chip box
assignment and pixel accounting. See ``docs/chips.md`` for the algorithm as
implemented and every deliberate deviation from the official code.
"""
from .assign import BoxAssignment, assign_boxes
from .chip import Chip, chip_pixels
from .cover import candidate_windows, cover_windows, generate_positive_chips, greedy_cover
from .grid import ChipGrid, chip_grid, grid_keep, grid_starts, min_overlap
from .negative import REFERENCE_MIN_PROPOSALS, generate_negative_chips
from .scales import (
    normalize_ranges,
    pyramid_pixels,
    scale_factor,
    scale_factors,
    scaled_image_size,
    valid_range_mask,
)

__all__ = [
    'Chip', 'BoxAssignment', 'scale_factor', 'scale_factors', 'scaled_image_size',
    'normalize_ranges', 'valid_range_mask', 'generate_positive_chips', 'candidate_windows',
    'greedy_cover', 'cover_windows', 'assign_boxes', 'chip_pixels', 'pyramid_pixels',
    'generate_negative_chips', 'REFERENCE_MIN_PROPOSALS',
    'ChipGrid', 'chip_grid', 'grid_keep', 'grid_starts', 'min_overlap',
]
