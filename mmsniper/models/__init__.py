"""Model adapters: ignore-aware assigner, range-aware R-CNN heads, pyramid TTA and mergers."""
from .assigners import SniperMaxIoUAssigner
from .autofocus import AutoFocusFasterRCNN, FocusPixelHead
from .autofocus_tta import AutoFocusTTAModel
from .backbones import TorchvisionMobileNetV2
from .dense_heads import (
                          SniperATSSAssigner,
                          SniperDINOHead,
                          SniperDynamicSoftLabelAssigner,
                          SniperFCOSHead,
                          SniperYOLOXHead,
)
from .ignore import IGNORE_TARGET, as_gt_instances, claim_background, ignore_targets
from .mergers import (
    MERGERS,
    BaseMerger,
    BoxVotingMerger,
    GreedyNMMMerger,
    MatchNMSMerger,
    NMMMerger,
    NMSMerger,
    SoftNMSMerger,
    build_merger,
)
from .roi_heads import (
                          SniperCascadeRoIHead,
                          SniperHybridTaskCascadeRoIHead,
                          SniperRoIHead,
                          filter_proposals_by_range,
)
from .tta import SniperTTAModel, level_range_mask

__all__ = ['SniperMaxIoUAssigner', 'TorchvisionMobileNetV2', 'SniperRoIHead',
           'SniperHybridTaskCascadeRoIHead',
           'SniperCascadeRoIHead', 'filter_proposals_by_range', 'MERGERS', 'BaseMerger',
           'NMSMerger', 'SoftNMSMerger', 'MatchNMSMerger', 'GreedyNMMMerger', 'NMMMerger',
           'BoxVotingMerger', 'build_merger', 'SniperTTAModel', 'level_range_mask',
           'AutoFocusFasterRCNN', 'FocusPixelHead', 'AutoFocusTTAModel',
           'SniperATSSAssigner', 'SniperDynamicSoftLabelAssigner', 'SniperFCOSHead',
           'SniperYOLOXHead', 'SniperDINOHead', 'IGNORE_TARGET', 'as_gt_instances',
           'claim_background', 'ignore_targets']
