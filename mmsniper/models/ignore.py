"""Ignored boxes for any detection head: what they claim, and targets that say "ignored".

On a SNIPER chip, the objects the chip's level is not responsible for (out of its valid
range, cut by the chip, inside a negative chip) are kept as IGNORED boxes
(``gt_ignore_flags``; ``PackDetInputs`` moves them to ``ignored_instances``, the heads get
them as ``batch_gt_instances_ignore``). An ignored box must be neither positive nor
background: the priors (anchors, points, queries) it claims leave the classification and
regression losses.

The rule every mmsniper head follows (docs/user_guides/one_stage_heads.md):

1. the VALID boxes are assigned exactly as MMDetection does (positives and their targets
   are the parent head's);
2. the family's own rule then assigns the ignored boxes as if they were valid
   (:func:`as_gt_instances` dresses them as ground truth; same priors, same predictions):
   the priors it would make positive for them -- "the priors an ignored box claims" --
   are, where they were background, taken out;
3. a claimed prior is marked ignored: ``gt_inds = -1`` in an ``AssignResult``
   (:func:`claim_background`; the heads' samplers then count it neither positive nor
   negative), or :data:`IGNORE_TARGET` in a target tensor, which :func:`ignore_targets`
   turns into a zero loss weight.

With no ignored box every function here leaves the parent's result untouched, so the
losses equal the parent head's exactly.

Frames: all boxes and priors are in the pixels of the network input (CHIP pixels on a
SNIPER chip), ``(x1, y1, x2, y2)``.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from mmdet.models.task_modules.assigners import AssignResult
from mmdet.structures.bbox import get_box_tensor
from mmengine.structures import InstanceData
from torch import Tensor

#: A target value meaning "ignored: no loss here" (as ``gt_inds = -1`` in mmdet).
IGNORE_TARGET = -1

#: ``InstanceData`` metainfo key under which a head carries an image's ignored boxes along
#: with its ground truth, down to methods whose signature has no ``gt_instances_ignore``.
IGNORED_META_KEY = 'sniper_ignored_instances'


def ignored_bboxes(gt_instances_ignore: Optional[InstanceData]) -> Optional[Tensor]:
    """The ignored boxes as ``Tensor[K, 4]`` ``(x1, y1, x2, y2)``, or None when none.

    Args:
        gt_instances_ignore (InstanceData, optional): with ``bboxes`` (Tensor or mmdet
            box type), as heads receive it.
    """
    if gt_instances_ignore is None or len(gt_instances_ignore) == 0 \
            or 'bboxes' not in gt_instances_ignore:
        return None
    return get_box_tensor(gt_instances_ignore.bboxes)[:, :4]


def as_gt_instances(gt_instances_ignore: InstanceData) -> InstanceData:
    """Ignored boxes dressed as ground truth, to ask an assigner what it would give them.

    Returns:
        InstanceData: ``bboxes`` Tensor[K, 4] and ``labels`` Tensor[K] int64 (the ignored
        boxes' own labels; class 0 where they carry none -- only cost-based assigners
        look at it).
    """
    boxes = ignored_bboxes(gt_instances_ignore)
    if boxes is None:
        raise ValueError('as_gt_instances: no ignored boxes')
    labels = gt_instances_ignore.labels if 'labels' in gt_instances_ignore \
        else boxes.new_zeros(len(boxes))
    return InstanceData(bboxes=boxes, labels=labels.long().to(boxes.device))


def claim_background(result: AssignResult, claimed: Tensor) -> AssignResult:
    """Mark the background priors in ``claimed`` ignored (``gt_inds = -1``), in place.

    Positives (``gt_inds > 0``, the valid boxes') are never touched: a valid box wins a
    prior it shares with an ignored one.

    Args:
        result (AssignResult): the assignment of the valid boxes.
        claimed (Tensor[N] bool): priors some ignored box claims.

    Returns:
        AssignResult: ``result``.
    """
    skip = claimed.to(result.gt_inds.device) & (result.gt_inds == 0)
    result.gt_inds[skip] = -1
    if result.labels is not None:
        result.labels[skip] = -1
    return result


def attach_ignored(batch_gt_instances: Sequence[InstanceData],
                   batch_gt_instances_ignore: Optional[Sequence[Optional[InstanceData]]]
                   ) -> list:
    """Each image's ground truth carrying its ignored boxes (metainfo
    :data:`IGNORED_META_KEY`), for head methods that receive only ``gt_instances``.

    Images without ignored boxes keep their own ``InstanceData`` object (so the parent's
    code path is unchanged); the others get a copy sharing the ground-truth tensors.
    """
    if not batch_gt_instances_ignore:
        return list(batch_gt_instances)
    out = []
    for gt, ign in zip(batch_gt_instances, batch_gt_instances_ignore):
        if ignored_bboxes(ign) is None:
            out.append(gt)
        else:
            out.append(gt.new(metainfo={**dict(gt.metainfo_items()), IGNORED_META_KEY: ign}))
    return out


def attached_ignored(gt_instances: InstanceData) -> Optional[InstanceData]:
    """The ignored boxes :func:`attach_ignored` put on ``gt_instances``, or None."""
    return gt_instances.metainfo.get(IGNORED_META_KEY)


def _drop_ignored_targets(module: torch.nn.Module, args: tuple, kwargs: dict):
    """Forward pre-hook of a loss ``(pred, target, weight=None, ...)``: targets equal to
    :data:`IGNORE_TARGET` get weight 0 (and a harmless target 0). No-op otherwise."""
    if len(args) < 2 or not isinstance(args[1], Tensor):
        return None
    pred, target = args[0], args[1]
    ignored = target == IGNORE_TARGET
    if not bool(ignored.any()):
        return None
    keep = (~ignored).to(pred.dtype)
    rest = list(args[2:])
    if rest:
        rest[0] = keep if rest[0] is None else rest[0] * keep
    else:
        weight = kwargs.get('weight')
        kwargs = dict(kwargs, weight=keep if weight is None else weight * keep)
    return (pred, target.masked_fill(ignored, 0), *rest), kwargs


def ignore_targets(loss: torch.nn.Module) -> torch.nn.Module:
    """Make a loss module skip the elements whose target is :data:`IGNORE_TARGET`.

    Installs a forward pre-hook (once) on an MMDetection loss called as
    ``loss(pred, target, weight=None, ...)`` with a Tensor ``target`` whose first
    dimension is ``pred``'s: where ``target == -1`` the element weight becomes 0. Calls
    without such a target run unchanged (bit for bit).

    Returns:
        nn.Module: ``loss`` itself.
    """
    if not getattr(loss, '_sniper_ignores_targets', False):
        loss.register_forward_pre_hook(_drop_ignored_targets, with_kwargs=True)
        loss._sniper_ignores_targets = True
    return loss
