"""Model adapters: ignore-aware assigner, range-aware R-CNN heads, pyramid TTA and mergers."""
from .assigners import SniperMaxIoUAssigner
from .roi_heads import SniperCascadeRoIHead, SniperRoIHead, filter_proposals_by_range

__all__ = ['SniperMaxIoUAssigner', 'SniperRoIHead', 'SniperCascadeRoIHead',
           'filter_proposals_by_range']
