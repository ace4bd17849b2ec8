"""SNIPER chip engine: framework-free (NumPy only).

Settings (:class:`SniperSettings`, every rule in one place), scale factors, valid ranges,
positive chips by greedy cover, negative chips, per-chip box assignment, the planner
(:func:`plan_image`, :func:`plan_epoch`, chip tickets), ragged box tables and pixel
accounting. See ``docs/design/chip_engine.md`` for the algorithm as implemented and every deliberate
deviation from the official code.
"""
from ._checks import check_box_shape
from .assign import BoxAssignment, assign_boxes
from .boxtable import BoxTable
from .chip import Chip, chip_pixels
from .cover import candidate_windows, cover_windows, generate_positive_chips, greedy_cover
from .focus import FocusStep, cells_to_next_scale, focus_chips, focus_steps, focus_targets
from .grid import GRID_LAYOUTS, ChipGrid, chip_grid, grid_keep, grid_starts, min_overlap
from .negative import REFERENCE_MIN_PROPOSALS, generate_negative_chips
from .plan import (
    ChipTicket,
    ImagePlan,
    boxes_in_no_chip,
    draw_ticket,
    epoch_rng,
    make_ticket,
    plan_epoch,
    plan_image,
)
from .scales import (
    box_sizes,
    level_bounds,
    normalize_ranges,
    pyramid_pixels,
    range_mask,
    scale_factor,
    scale_factors,
    scaled_image_size,
    valid_range_mask,
)
from .settings import SniperSettings

__all__ = [
    'Chip', 'BoxAssignment', 'scale_factor', 'scale_factors', 'scaled_image_size',
    'normalize_ranges', 'level_bounds', 'valid_range_mask', 'box_sizes', 'range_mask',
    'generate_positive_chips', 'candidate_windows',
    'greedy_cover', 'cover_windows', 'assign_boxes', 'chip_pixels', 'pyramid_pixels',
    'generate_negative_chips', 'REFERENCE_MIN_PROPOSALS',
    'GRID_LAYOUTS', 'ChipGrid', 'chip_grid', 'grid_keep', 'grid_starts', 'min_overlap',
    'SniperSettings', 'BoxTable', 'ChipTicket', 'ImagePlan', 'make_ticket', 'epoch_rng',
    'plan_image', 'plan_epoch', 'draw_ticket', 'boxes_in_no_chip',
    'check_box_shape', 'FocusStep', 'focus_steps', 'focus_chips', 'focus_targets',
    'cells_to_next_scale',
]
