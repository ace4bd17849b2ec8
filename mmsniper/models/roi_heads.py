"""R-CNN heads that keep proposals outside the chip's valid range out of training."""
from __future__ import annotations

from typing import List, Sequence

import torch
from mmdet.models.roi_heads import CascadeRoIHead, HybridTaskCascadeRoIHead, StandardRoIHead
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import get_box_tensor
from mmengine.structures import InstanceData

from ..chips import box_sizes, range_mask


def filter_proposals_by_range(rpn_results_list: Sequence[InstanceData],
                              batch_data_samples: Sequence[DetDataSample]) -> List[InstanceData]:
    """Drop proposals whose size is outside their chip level's valid range.

    As in the reference, a chip's R-CNN head trains only on proposals of the sizes its
    level is responsible for: ``sqrt(w * h) / chip_scale`` (ORIGINAL pixels) in
    ``chip_valid_range`` (``[lo, hi)``). Samples without chip metadata (not a SNIPER
    chip) pass unchanged.

    Args:
        rpn_results_list (list[InstanceData]): per image, ``bboxes`` Tensor[N, 4]
            ``(x1, y1, x2, y2)`` in CHIP pixels, plus scores etc.
        batch_data_samples (list[DetDataSample]): metainfo with ``chip_scale`` and
            ``chip_valid_range`` (from ``ChipGenerator``).

    Returns:
        list[InstanceData]: the kept proposals of each image.
    """
    out = []
    for res, sample in zip(rpn_results_list, batch_data_samples):
        meta = sample.metainfo
        if 'chip_valid_range' not in meta or len(res) == 0:
            out.append(res)
            continue
        lo, hi = meta['chip_valid_range']
        # CHIP pixels / chip_scale = ORIGINAL pixels (the ranges' frame)
        size = box_sizes(get_box_tensor(res.bboxes)) / float(meta['chip_scale'])
        keep = range_mask(size, lo, hi, 'left')
        out.append(res[keep] if not bool(keep.all()) else res)
    return out


class _RangeAwareMixin:
    """Apply :func:`filter_proposals_by_range` before the head's own ``loss``."""

    def loss(self, x: Sequence[torch.Tensor], rpn_results_list, batch_data_samples):
        rpn_results_list = filter_proposals_by_range(rpn_results_list, batch_data_samples)
        return super().loss(x, rpn_results_list, batch_data_samples)


@MODELS.register_module()
class SniperRoIHead(_RangeAwareMixin, StandardRoIHead):
    """``StandardRoIHead`` (Faster R-CNN) with SNIPER's range-aware proposal filter."""


@MODELS.register_module()
class SniperCascadeRoIHead(_RangeAwareMixin, CascadeRoIHead):
    """``CascadeRoIHead`` with SNIPER's range-aware proposal filter."""


@MODELS.register_module()
class SniperHybridTaskCascadeRoIHead(_RangeAwareMixin, HybridTaskCascadeRoIHead):
    """``HybridTaskCascadeRoIHead`` (HTC) with SNIPER's range-aware proposal filter.

    Why a class of its own: HTC is not a ``CascadeRoIHead`` config switch but mmdet's own
    subclass (interleaved box and mask stages, mask information flow, optional semantic
    branch), so ``SniperCascadeRoIHead`` cannot stand in for it. As there, the filter runs
    once, before the first stage: the first stage's boxes and masks learn only from
    proposals in the chip level's valid range (and the ground truth boxes the sampler
    adds); later stages learn from their refinements.
    """
