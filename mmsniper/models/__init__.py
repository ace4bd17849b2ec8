"""Model adapters: ignore-aware assigner, range-aware R-CNN heads, pyramid TTA and mergers."""
from .assigners import SniperMaxIoUAssigner
from .backbones import TorchvisionMobileNetV2
from .mergers import MERGERS, BaseMerger, BoxVotingMerger, NMSMerger, SoftNMSMerger, build_merger
from .roi_heads import SniperCascadeRoIHead, SniperRoIHead, filter_proposals_by_range
from .tta import SniperTTAModel, level_range_mask

__all__ = ['SniperMaxIoUAssigner', 'TorchvisionMobileNetV2', 'SniperRoIHead', 'SniperCascadeRoIHead',
           'filter_proposals_by_range', 'MERGERS', 'BaseMerger', 'NMSMerger', 'SoftNMSMerger',
           'BoxVotingMerger', 'build_merger', 'SniperTTAModel', 'level_range_mask']
