"""Ignore-aware one-stage, anchor-free and DETR-style heads for SNIPER chips.

Each class is the smallest change that makes one family's target assignment respect the
chip's ignored boxes (:mod:`mmsniper.models.ignore` has the rule and the shared pieces;
docs/user_guides/one_stage_heads.md the guide):

* RetinaNet: ``RetinaHead`` hands them to its assigner; ``SniperMaxIoUAssigner``
  (assigners.py) makes them count, config only.
* ATSS: ``ATSSHead`` hands them to ``ATSSAssigner``, which drops them on a chip with no
  valid box and misses small ones: :class:`SniperATSSAssigner`.
* FCOS: ``FCOSHead.get_targets`` never sees them: :class:`SniperFCOSHead`.
* RTMDet: ``DynamicSoftLabelAssigner`` never looks at them:
  :class:`SniperDynamicSoftLabelAssigner`, config only.
* YOLOX: SimOTA never looks at them, and the objectness loss covers every prior:
  :class:`SniperYOLOXHead`.
* DINO: the detector never passes them to the head: :class:`SniperDINOHead`.

In every case the valid boxes get exactly mmdet's assignment; then the family's own rule
assigns the ignored boxes as if they were valid, and the priors it gives them that were
background leave the losses. With no ignored box the losses are the parent head's, bit for
bit.
"""
from __future__ import annotations

from typing import List, Optional

import torch
from mmdet.models.dense_heads import DINOHead, FCOSHead, YOLOXHead
from mmdet.models.task_modules.assigners import (
    AssignResult,
    ATSSAssigner,
    DynamicSoftLabelAssigner,
)
from mmdet.registry import MODELS, TASK_UTILS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from mmengine.structures import InstanceData
from torch import Tensor

from .ignore import (
    IGNORE_TARGET,
    as_gt_instances,
    attach_ignored,
    attached_ignored,
    claim_background,
    ignore_targets,
    ignored_bboxes,
)

# -- assigners ---------------------------------------------------------------------------------

@TASK_UTILS.register_module()
class SniperATSSAssigner(ATSSAssigner):
    """``ATSSAssigner`` whose ignored boxes claim the anchors ATSS would give them.

    mmdet's ``ATSSAssigner`` only knows an IoF rule (``ignore_iof_thr``, off by default),
    which it skips on a chip with no valid box (everything background), and which misses
    small ignored boxes: an ATSS anchor (8 strides wide) is never mostly inside a
    10-pixel box. Here the valid boxes are assigned by the parent, unchanged; then ATSS runs
    on the ignored boxes as if they were valid, and the background anchors it would make
    positive for them become ignored (``gt_inds = -1``: no classification loss).

    Args:
        Those of ``ATSSAssigner`` (``ignore_iof_thr``, if set, still applies first).
    """

    def assign(self, pred_instances: InstanceData, num_level_priors: List[int],
               gt_instances: InstanceData,
               gt_instances_ignore: Optional[InstanceData] = None) -> AssignResult:
        result = super().assign(pred_instances, num_level_priors, gt_instances,
                                gt_instances_ignore)
        if ignored_bboxes(gt_instances_ignore) is None or len(result.gt_inds) == 0:
            return result
        theirs = super().assign(pred_instances, num_level_priors,
                                as_gt_instances(gt_instances_ignore), None)
        return claim_background(result, theirs.gt_inds > 0)


@TASK_UTILS.register_module()
class SniperDynamicSoftLabelAssigner(DynamicSoftLabelAssigner):
    """RTMDet's ``DynamicSoftLabelAssigner`` whose ignored boxes claim what it would give
    them.

    The parent never looks at ignored boxes. Here the valid boxes are assigned by the
    parent, unchanged; then the parent assigns the ignored boxes as if they were valid
    (same predictions, same costs), and the background priors it would make positive for
    them become ignored (``gt_inds = -1``: ``RTMDetHead`` gives them label weight 0).
    """

    def assign(self, pred_instances: InstanceData, gt_instances: InstanceData,
               gt_instances_ignore: Optional[InstanceData] = None,
               **kwargs) -> AssignResult:
        result = super().assign(pred_instances, gt_instances, gt_instances_ignore, **kwargs)
        if ignored_bboxes(gt_instances_ignore) is None or len(result.gt_inds) == 0:
            return result
        theirs = super().assign(pred_instances, as_gt_instances(gt_instances_ignore), None,
                                **kwargs)
        return claim_background(result, theirs.gt_inds > 0)


# -- heads -------------------------------------------------------------------------------------

@MODELS.register_module()
class SniperFCOSHead(FCOSHead):
    """``FCOSHead`` whose ignored boxes claim the points FCOS would give them.

    ``FCOSHead.get_targets`` takes no ignored boxes. Here the valid boxes' targets are the
    parent's, unchanged; then the parent's own target rule (inside the box -- or its
    centre region with ``center_sampling`` -- at the level whose regression range fits it)
    runs on the ignored boxes, and the background points it would label for them get
    label :data:`~mmsniper.models.ignore.IGNORE_TARGET`: not positive (no box,
    centerness or count in ``num_pos``) and weight 0 in ``loss_cls``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        ignore_targets(self.loss_cls)

    def loss_by_feat(self, cls_scores: List[Tensor], bbox_preds: List[Tensor],
                     centernesses: List[Tensor], batch_gt_instances: List[InstanceData],
                     batch_img_metas: List[dict],
                     batch_gt_instances_ignore: Optional[List[InstanceData]] = None
                     ) -> dict:
        # get_targets sees only gt_instances: the ignored boxes ride along with them.
        return super().loss_by_feat(
            cls_scores, bbox_preds, centernesses,
            attach_ignored(batch_gt_instances, batch_gt_instances_ignore), batch_img_metas,
            batch_gt_instances_ignore)

    def _get_targets_single(self, gt_instances: InstanceData, points: Tensor,
                            regress_ranges: Tensor, num_points_per_lvl: List[int]):
        labels, bbox_targets = super()._get_targets_single(
            gt_instances, points, regress_ranges, num_points_per_lvl)
        ignored = attached_ignored(gt_instances)
        if ignored is None:
            return labels, bbox_targets
        theirs, _ = super()._get_targets_single(
            as_gt_instances(ignored), points, regress_ranges, num_points_per_lvl)
        claimed = (theirs != self.num_classes) & (labels == self.num_classes)
        return labels.masked_fill(claimed, IGNORE_TARGET), bbox_targets


@MODELS.register_module()
class SniperYOLOXHead(YOLOXHead):
    """``YOLOXHead`` whose ignored boxes are not taught as "no object".

    YOLOX's classification and box losses cover positives only; its objectness loss covers
    every prior, with target 0 for all but the positives, and SimOTA (the assigner) never
    looks at ignored boxes. Here the targets of the valid boxes are the parent's,
    unchanged; then the parent computes targets for the ignored boxes as if they were valid
    (SimOTA, same predictions), and the priors it would make positive for them -- unless
    positive for a valid box -- get objectness target
    :data:`~mmsniper.models.ignore.IGNORE_TARGET` (weight 0 in ``loss_obj``).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        ignore_targets(self.loss_obj)

    @torch.no_grad()
    def _get_targets_single(self, priors: Tensor, cls_preds: Tensor, decoded_bboxes: Tensor,
                            objectness: Tensor, gt_instances: InstanceData, img_meta: dict,
                            gt_instances_ignore: Optional[InstanceData] = None) -> tuple:
        targets = super()._get_targets_single(priors, cls_preds, decoded_bboxes, objectness,
                                              gt_instances, img_meta, gt_instances_ignore)
        if ignored_bboxes(gt_instances_ignore) is None:
            return targets
        foreground, cls_target, obj_target, bbox_target, l1_target, num_pos = targets
        theirs = super()._get_targets_single(priors, cls_preds, decoded_bboxes, objectness,
                                             as_gt_instances(gt_instances_ignore), img_meta)
        obj_target = obj_target.clone()
        obj_target[theirs[0] & ~foreground] = IGNORE_TARGET
        return foreground, cls_target, obj_target, bbox_target, l1_target, num_pos


@MODELS.register_module()
class SniperDINOHead(DINOHead):
    """``DINOHead`` whose ignored boxes take the queries Hungarian matching gives them.

    DINO never passes ignored boxes to its head (``DETRHead.loss_by_feat`` refuses them).
    Here the valid boxes are matched exactly as the parent matches them; then the same
    assigner matches the ignored boxes among the queries left unmatched, and those queries
    get classification weight 0 (they were background) -- for the decoder's matching
    queries and the encoder's proposals alike. Denoising queries are built from the valid
    boxes only, as before.
    """

    def loss(self, *args, batch_data_samples: List[DetDataSample], **kwargs) -> dict:
        samples = []
        for sample in batch_data_samples:
            ignored = sample.get('ignored_instances')
            if ignored_bboxes(ignored) is None:
                samples.append(sample)
                continue
            # the loss reads gt_instances and metainfo: a copy whose gt carries the ignored
            twin = DetDataSample(metainfo=sample.metainfo)
            twin.gt_instances = attach_ignored([sample.gt_instances], [ignored])[0]
            samples.append(twin)
        return super().loss(*args, batch_data_samples=samples, **kwargs)

    def loss_by_feat(self, all_layers_cls_scores: Tensor, all_layers_bbox_preds: Tensor,
                     enc_cls_scores: Optional[Tensor], enc_bbox_preds: Optional[Tensor],
                     batch_gt_instances: List[InstanceData], batch_img_metas: List[dict],
                     dn_meta: dict,
                     batch_gt_instances_ignore: Optional[List[InstanceData]] = None) -> dict:
        # DETRHead.loss_by_feat refuses ignored boxes: they ride along with the ground truth.
        return super().loss_by_feat(
            all_layers_cls_scores, all_layers_bbox_preds, enc_cls_scores, enc_bbox_preds,
            attach_ignored(batch_gt_instances, batch_gt_instances_ignore), batch_img_metas,
            dn_meta, None)

    def _get_targets_single(self, cls_score: Tensor, bbox_pred: Tensor,
                            gt_instances: InstanceData, img_meta: dict) -> tuple:
        out = super()._get_targets_single(cls_score, bbox_pred, gt_instances, img_meta)
        ignored = attached_ignored(gt_instances)
        if ignored is None:
            return out
        labels, label_weights, bbox_targets, bbox_weights, pos_inds, neg_inds = out
        if len(neg_inds) == 0:
            return out
        # The queries left unmatched, in the frame the assigner saw (xyxy, input pixels).
        img_h, img_w = img_meta['img_shape']
        factor = bbox_pred.new_tensor([img_w, img_h, img_w, img_h])[None]
        free = InstanceData(scores=cls_score[neg_inds],
                            bboxes=bbox_cxcywh_to_xyxy(bbox_pred[neg_inds]) * factor)
        theirs = self.assigner.assign(pred_instances=free,
                                      gt_instances=as_gt_instances(ignored),
                                      img_meta=img_meta)
        claimed = theirs.gt_inds > 0
        label_weights = label_weights.clone()
        label_weights[neg_inds[claimed]] = 0
        return (labels, label_weights, bbox_targets, bbox_weights, pos_inds,
                neg_inds[~claimed])
