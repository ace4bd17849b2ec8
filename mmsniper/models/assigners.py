"""Ignore-aware box assignment for SNIPER chips."""
from __future__ import annotations

from typing import Optional

import torch
from mmdet.models.task_modules.assigners import AssignResult, MaxIoUAssigner
from mmdet.registry import TASK_UTILS
from mmdet.structures.bbox import get_box_tensor
from mmengine.structures import InstanceData


@TASK_UTILS.register_module()
class SniperMaxIoUAssigner(MaxIoUAssigner):
    """``MaxIoUAssigner`` whose ignore regions hold even when a chip has no valid box.

    mmdet's ``MaxIoUAssigner`` applies ignored boxes only while there is at least one
    valid ground truth: with none it returns early and labels every prior background.
    In SNIPER that is the common case of a chip whose boxes are all out of its level's
    range (or any negative chip): those boxes would be taught as background. Here priors
    overlapping an ignored box beyond ``ignore_iof_thr`` are left unassigned (-1) in every
    case.

    Args:
        ignore_metric (str): ``'iof'`` (mmdet's: intersection over the prior's area) or
            ``'iou'`` (the reference SNIPER RPN: anchors with IoU > 0.3 with an invalid box
            are neither positive nor negative). Default ``'iof'``.
        **kwargs: ``MaxIoUAssigner``'s arguments; ``ignore_iof_thr`` must be > 0 for
            ignored boxes to have any effect (mmdet's Faster R-CNN sets -1).
    """

    def __init__(self, *args, ignore_metric: str = 'iof', **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if ignore_metric not in ('iof', 'iou'):
            raise ValueError(f"ignore_metric: expected 'iof' or 'iou', got {ignore_metric!r}")
        self.ignore_metric = ignore_metric

    def _ignored_priors(self, priors: torch.Tensor, ignore: torch.Tensor) -> torch.Tensor:
        """bool Tensor[N]: priors overlapping some ignored box beyond the threshold."""
        if self.ignore_metric == 'iou':
            ov = self.iou_calculator(priors, ignore, mode='iou')
        elif self.ignore_wrt_candidates:
            ov = self.iou_calculator(priors, ignore, mode='iof')
        else:
            ov = self.iou_calculator(ignore, priors, mode='iof').t()
        return ov.max(dim=1).values > self.ignore_iof_thr

    def assign(self, pred_instances: InstanceData, gt_instances: InstanceData,
               gt_instances_ignore: Optional[InstanceData] = None, **kwargs) -> AssignResult:
        priors = pred_instances.priors
        ignore = None
        if (self.ignore_iof_thr > 0 and gt_instances_ignore is not None
                and len(gt_instances_ignore) > 0 and priors.numel() > 0):
            ignore = get_box_tensor(gt_instances_ignore.bboxes)
        if ignore is None or self.ignore_metric == 'iof' and len(gt_instances) > 0:
            # mmdet's own path is right whenever valid boxes exist (and for iof).
            return super().assign(pred_instances, gt_instances, gt_instances_ignore, **kwargs)
        result = super().assign(pred_instances, gt_instances, None, **kwargs)
        p = get_box_tensor(priors)
        skip = self._ignored_priors(p[:, :4], ignore.to(p.device))
        # Ignored priors are neither positive nor negative, unless a VALID box claims them.
        result.gt_inds[skip & (result.gt_inds <= 0)] = -1
        return result
