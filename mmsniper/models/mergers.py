"""Box mergers: how the detections pooled from all pyramid levels become one set.

A merger is any callable ``merger(bboxes, scores, labels) -> (bboxes, scores, labels)``
over the detections of ONE image in ORIGINAL pixels; configs name it by ``type`` in
:data:`MERGERS`. Every merger here is class-aware (boxes of different labels never
interact; SAHI's twins optionally class-agnostic) and device-agnostic (inputs on the
CPU or CUDA; outputs on the same device).

Registry. :data:`MERGERS` is a child of MMDetection's ``TASK_UTILS`` with scope
``'mmsniper'``, so ``TASK_UTILS.build(dict(type='mmsniper.SoftNMSMerger'))`` also works.
It builds with its own function (:func:`build_merger`), which looks the type up in
``MERGERS`` (then its ancestors) WITHOUT switching to the runner's default scope: a
sibling registry is invisible from scope ``'mmdet'``, and mmdet-derived configs carry
``_scope_='mmdet'`` (ignored here). A project registers its own merger class or
function with ``@MERGERS.register_module()`` and names it in ``tta_model.merger``.

SAHI's postprocess types (``NMS``, ``GREEDYNMM``, ``NMM`` with IOU or IOS and a
class-agnostic mode) are :class:`MatchNMSMerger`, :class:`GreedyNMMMerger` and
:class:`NMMMerger`, the NumPy core in :mod:`mmsniper.chips.match_merge` (they take the
``class_agnostic`` option; the others are class-aware).

Ops. Hard NMS is ``mmcv.ops.batched_nms`` (CPU and CUDA kernels). Soft-NMS is
``mmcv.ops.soft_nms``, which in mmcv 2.1 has a CPU kernel only: CUDA inputs are copied
to the CPU and the results back (a few thousand boxes per image: the copy is
negligible next to the O(N^2) kernel). mmcv's ops run in float32. Box voting refines
coordinates, which ``batched_nms`` cannot return, so it is written here in torch.
"""
from __future__ import annotations

import functools
import inspect
import math
from abc import ABCMeta, abstractmethod
from typing import Any, Callable, Union

import torch
from mmdet.registry import TASK_UTILS
from mmengine.registry import Registry
from torch import Tensor

from ..chips import check_box_shape

MergeResult = tuple[Tensor, Tensor, Tensor]


def build_merger(cfg: Union[dict, Callable], registry: Registry | None = None,
                 default_args: dict | None = None) -> Callable:
    """Build a merger from a config dict (``MERGERS.build`` calls this).

    Args:
        cfg (dict | callable): ``dict(type=NAME_OR_CLASS, **kwargs)``; ``_scope_`` is
            ignored. A callable (an already-built merger) is returned as is.
        registry (Registry, optional): where ``type`` is looked up; default
            :data:`MERGERS` (its ancestors are searched too).
        default_args (dict, optional): keyword arguments used where ``cfg`` has none.

    Returns:
        callable: the merger. A registered class is instantiated with the kwargs; a
        registered function is returned bound to them (``functools.partial``).
    """
    if callable(cfg) and not isinstance(cfg, dict):
        return cfg
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise ValueError(f'merger: expected a dict with a "type" key or a callable, got {cfg!r}')
    registry = MERGERS if registry is None else registry
    args = dict(cfg)
    args.pop('_scope_', None)
    kind = args.pop('type')
    for k, v in (default_args or {}).items():
        args.setdefault(k, v)
    if isinstance(kind, str):
        obj = registry.get(kind)
        if obj is None:
            raise KeyError(f'merger type {kind!r} is not registered in {registry.name!r} '
                           f'(scope {registry.scope!r}); registered: '
                           f'{sorted(registry.module_dict)}. Register yours with '
                           '@mmsniper.models.MERGERS.register_module()')
    elif callable(kind):
        obj = kind
    else:
        raise ValueError(f'merger type: expected a registered name or a callable, got {kind!r}')
    merger = obj(**args) if inspect.isclass(obj) else functools.partial(obj, **args)
    if not callable(merger):
        raise ValueError(f'merger {kind!r} built a {type(merger).__name__}, which is not '
                         'callable as merger(bboxes, scores, labels)')
    return merger


#: Box mergers by name. Child of ``mmdet.registry.TASK_UTILS``, scope ``'mmsniper'``.
MERGERS = Registry('merger', parent=TASK_UTILS, scope='mmsniper', build_func=build_merger,
                   locations=['mmsniper.models.mergers'])


def merge_with_index(merger: Callable, bboxes: Tensor, scores: Tensor, labels: Tensor
                     ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Run a merger and tell which input each output detection is.

    What lets anything attached to a detection (its mask) follow it through the merge.
    The mergers here know it (``merge_index``; box voting: the survivor before its
    coordinates were refined, so a mask follows the kept box's own prediction). For any
    other merger each output is matched to the input of its label with the highest IoU
    (an output that is a copy of an input, as NMS-like mergers return, matches it exactly;
    ties go to the higher score).

    Args:
        merger (callable): ``merger(bboxes, scores, labels)``, see :class:`BaseMerger`.
        bboxes (Tensor[N, 4]), scores (Tensor[N]), labels (Tensor[N] int): ORIGINAL pixels.

    Returns:
        tuple: the merger's ``(bboxes[K, 4], scores[K], labels[K])`` and ``index``
        (Tensor[K] int64, on the inputs' device): the input each output comes from.
    """
    check_detections(bboxes, scores, labels)
    if isinstance(merger, BaseMerger):
        if bboxes.shape[0] == 0:
            return (bboxes.clone(), scores.clone(), labels.long(),
                    torch.zeros(0, dtype=torch.long, device=bboxes.device))
        return merger.merge_index(bboxes, scores, labels)
    out_b, out_s, out_l = merger(bboxes, scores, labels)
    return out_b, out_s, out_l, _match_inputs(out_b, out_l, bboxes, scores, labels)


def _match_inputs(out_b: Tensor, out_l: Tensor, bboxes: Tensor, scores: Tensor,
                  labels: Tensor) -> Tensor:
    """For each output, the input of its label with the highest IoU (then score)."""
    index = torch.zeros(len(out_b), dtype=torch.long, device=bboxes.device)
    for start in range(0, len(out_b), 1024):  # bounded IoU blocks
        ob, ol = out_b[start:start + 1024], out_l[start:start + 1024]
        iou = _iou(ob.to(bboxes.dtype), bboxes)
        iou = torch.where(ol[:, None] == labels[None, :], iou, iou.new_tensor(-1.0))
        # a tiny score term breaks IoU ties towards the stronger input
        key = iou + 1e-6 * scores.to(iou.dtype)[None, :] / (scores.abs().max() + 1)
        index[start:start + len(ob)] = key.argmax(1) if len(bboxes) else 0
    return index


def check_detections(bboxes: Any, scores: Any, labels: Any) -> None:
    """Raise ValueError unless ``bboxes[N, 4]``, ``scores[N]``, ``labels[N]`` integer
    tensors on one device."""
    for name, t in (('bboxes', bboxes), ('scores', scores), ('labels', labels)):
        if not isinstance(t, Tensor):
            raise ValueError(f'{name}: expected a torch.Tensor, got {type(t).__name__}')
    check_box_shape(bboxes, 'bboxes')
    n = bboxes.shape[0]
    if scores.shape != (n,) or labels.shape != (n,):
        raise ValueError(f'scores and labels: expected shape ({n},), got '
                         f'{tuple(scores.shape)} and {tuple(labels.shape)}')
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(f'labels: expected an integer tensor, got {labels.dtype}')
    if not (bboxes.device == scores.device == labels.device):
        raise ValueError(f'bboxes, scores, labels: expected one device, got {bboxes.device}, '
                         f'{scores.device}, {labels.device}')


class BaseMerger(metaclass=ABCMeta):
    """A class-aware merger of one image's detections.

    Call it as ``merger(bboxes, scores, labels)``:

    Args:
        bboxes (Tensor[N, 4] float): ``(x1, y1, x2, y2)`` in ORIGINAL pixels.
        scores (Tensor[N] float): confidences.
        labels (Tensor[N] int): class indices; boxes of different labels never interact.

    Returns:
        tuple[Tensor[K, 4], Tensor[K], Tensor[K] int64]: the merged detections, same
        device and float dtype as the input, by decreasing score.
    """

    def __call__(self, bboxes: Tensor, scores: Tensor, labels: Tensor) -> MergeResult:
        check_detections(bboxes, scores, labels)
        if bboxes.shape[0] == 0:
            return bboxes.clone(), scores.clone(), labels.long()
        return self.merge(bboxes, scores, labels)

    @abstractmethod
    def merge(self, bboxes: Tensor, scores: Tensor, labels: Tensor) -> MergeResult:
        """The merge of N >= 1 checked detections; same contract as ``__call__``."""

    def merge_index(self, bboxes: Tensor, scores: Tensor, labels: Tensor
                    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """:meth:`merge` plus the input index of each output (Tensor[K] int64). A merger
        that knows it overrides this; by default outputs are matched to inputs (see
        :func:`merge_with_index`)."""
        out_b, out_s, out_l = self.merge(bboxes, scores, labels)
        return out_b, out_s, out_l, _match_inputs(out_b, out_l, bboxes, scores, labels)

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in vars(self).items() if not k.startswith('_'))
        return f'{type(self).__name__}({args})'


def _check_unit(value: float, name: str, closed_low: bool = True) -> float:
    v = float(value)
    ok = (0.0 <= v <= 1.0) if closed_low else (0.0 < v <= 1.0)
    if not (math.isfinite(v) and ok):
        raise ValueError(f'{name}: expected a value in {"[" if closed_low else "("}0, 1], '
                         f'got {value!r}')
    return v


@MERGERS.register_module()
class NMSMerger(BaseMerger):
    """Hard NMS per class (``mmcv.ops.batched_nms``): a box whose IoU with a
    higher-scoring box of its label is above ``iou_threshold`` is removed.

    Args:
        iou_threshold (float): IoU above which the lower-scoring box goes. Default 0.5.
    """

    def __init__(self, iou_threshold: float = 0.5) -> None:
        self.iou_threshold = _check_unit(iou_threshold, 'iou_threshold')

    def merge(self, bboxes: Tensor, scores: Tensor, labels: Tensor) -> MergeResult:
        return self.merge_index(bboxes, scores, labels)[:3]

    def merge_index(self, bboxes: Tensor, scores: Tensor, labels: Tensor
                    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        from mmcv.ops import batched_nms

        _, keep = batched_nms(bboxes.float(), scores.float(), labels,
                              dict(type='nms', iou_threshold=self.iou_threshold))
        # keep: by decreasing score
        return bboxes[keep], scores[keep], labels[keep].long(), keep.long()


@MERGERS.register_module()
class SoftNMSMerger(BaseMerger):
    """Soft-NMS per class (Bodla et al., 2017; ``mmcv.ops.soft_nms``).

    Boxes are taken in order of their current score; each taken box ``M`` decays the
    score of every remaining box ``b`` of its label by

    - ``'gaussian'``: ``exp(-IoU(M, b)^2 / sigma)`` (``iou_threshold`` unused),
    - ``'linear'``: ``1 - IoU(M, b)`` when ``IoU(M, b) >= iou_threshold``, else 1,

    and a box whose score falls below ``min_score`` is dropped (as are boxes that
    start below it). The kept boxes keep their coordinates; only scores change.
    Reference (SNIPER): ``method='gaussian', sigma=0.55, min_score=0.001``.

    Args:
        method (str): ``'gaussian'`` or ``'linear'``. Default ``'gaussian'``.
        sigma (float): Gaussian width, ``> 0``. Default 0.5.
        iou_threshold (float): linear method only. Default 0.3.
        min_score (float): drop boxes below this score. Default 0.001.
    """

    def __init__(self, method: str = 'gaussian', sigma: float = 0.5,
                 iou_threshold: float = 0.3, min_score: float = 1e-3) -> None:
        if method not in ('gaussian', 'linear'):
            raise ValueError(f"method: expected 'gaussian' or 'linear', got {method!r}")
        if not (math.isfinite(float(sigma)) and float(sigma) > 0):
            raise ValueError(f'sigma: expected > 0, got {sigma!r}')
        self.method = method
        self.sigma = float(sigma)
        self.iou_threshold = _check_unit(iou_threshold, 'iou_threshold')
        self.min_score = _check_unit(min_score, 'min_score')

    def merge(self, bboxes: Tensor, scores: Tensor, labels: Tensor) -> MergeResult:
        return self.merge_index(bboxes, scores, labels)[:3]

    def merge_index(self, bboxes: Tensor, scores: Tensor, labels: Tensor
                    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        from mmcv.ops import soft_nms

        # The kernel is CPU-only: one copy there, one back.
        b_cpu, s_cpu, l_cpu = bboxes.float().cpu(), scores.float().cpu(), labels.cpu()
        alive = torch.nonzero(s_cpu >= self.min_score).squeeze(1)
        if len(alive) == 0:
            none = alive.to(bboxes.device)
            return bboxes[none], scores[:0], labels[:0].long(), none.long()
        args = dict(iou_threshold=self.iou_threshold, sigma=self.sigma,
                    min_score=self.min_score, method=self.method)
        present, rank, counts = torch.unique(l_cpu[alive], return_inverse=True,
                                             return_counts=True)
        n, c = len(alive), len(present)
        saved_pairs = n * n - int((counts ** 2).sum())
        if c == 1 or saved_pairs < _PAIRS_PER_CALL * c:
            # One kernel call: each class in its own cell of a sqrt(C) x sqrt(C) grid of
            # image-sized cells, so boxes of different classes never overlap (IoU 0,
            # weight 1) and coordinates stay small enough for float32.
            dets, inds = soft_nms(_separate_classes(b_cpu[alive], rank), s_cpu[alive],
                                  **args)
            keep, new_scores = alive[inds], dets[:, 4]
        else:  # many boxes: one call per class costs fewer box pairs than one call
            keep_parts, score_parts = [], []
            for g in _label_groups(l_cpu[alive]):
                idx = alive[g]
                dets, inds = soft_nms(b_cpu[idx], s_cpu[idx], **args)
                keep_parts.append(idx[inds])
                score_parts.append(dets[:, 4])
            keep, new_scores = torch.cat(keep_parts), torch.cat(score_parts)
        keep = keep.to(bboxes.device)
        new_scores = new_scores.to(device=scores.device, dtype=scores.dtype)
        order = torch.argsort(new_scores, descending=True, stable=True)
        keep = keep[order].long()
        return bboxes[keep], new_scores[order], labels[keep].long(), keep


# Box pairs the Soft-NMS kernel visits in about the time of one extra call (measured on
# one CPU core: a call costs ~0.15 ms, the kernel 4-8 ns per pair; 80 classes: one call
# is faster up to ~2000 boxes, one call per class beyond).
_PAIRS_PER_CALL = 40_000
# The same trade-off for box voting's IoU blocks (~0.2 ms per block, ~40 ns per pair).
_VOTE_PAIRS_PER_BLOCK = 5_000


def _label_groups(labels: Tensor) -> list[Tensor]:
    """Indices of ``labels`` per distinct label (ascending labels)."""
    order = torch.argsort(labels, stable=True)
    _, counts = torch.unique_consecutive(labels[order], return_counts=True)
    return list(torch.split(order, counts.tolist()))


def _separate_classes(boxes: Tensor, rank: Tensor) -> Tensor:
    """Boxes moved so that each class (``rank`` 0..C-1) lands in its own cell of a
    square grid of cells larger than the boxes' extent."""
    lo = boxes.min()
    cell = boxes.max() - lo + 1.0
    side = math.ceil(math.sqrt(int(rank.max()) + 1))
    dx, dy = (rank % side).to(boxes.dtype) * cell, (rank // side).to(boxes.dtype) * cell
    return boxes - lo + torch.stack([dx, dy, dx, dy], dim=1)


def _iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU matrix ``[len(a), len(b)]`` of xyxy boxes (empty boxes: IoU 0)."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=torch.finfo(union.dtype).tiny),
                       torch.zeros_like(union))


@MERGERS.register_module()
class BoxVotingMerger(BaseMerger):
    """Survivors of another merger, their coordinates refined by box voting.

    ``base`` (any merger, e.g. NMS or Soft-NMS) chooses which detections survive and
    their scores. Each survivor's box then becomes the score-weighted mean of every
    INPUT box of its label whose IoU with it is at least ``vote_threshold`` (the
    survivor itself included): ``box = sum(s_j * b_j) / sum(s_j)`` (Gidaris and
    Komodakis, 2015; Detectron's ``box_voting`` with its default ``'ID'`` scoring).

    Args:
        base (dict | callable): the merger that selects survivors. Default hard NMS
            at IoU 0.5.
        vote_threshold (float): least IoU with the survivor for a box to vote, in
            ``(0, 1]``. Default 0.8.
        chunk_size (int): survivors per IoU block, bounding memory at
            ``chunk_size x N`` (per label). Default 1024.
    """

    def __init__(self, base: Union[dict, Callable, None] = None, vote_threshold: float = 0.8,
                 chunk_size: int = 1024) -> None:
        self.base = build_merger(base if base is not None
                                 else dict(type='NMSMerger', iou_threshold=0.5))
        self.vote_threshold = _check_unit(vote_threshold, 'vote_threshold', closed_low=False)
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f'chunk_size: expected a positive int, got {chunk_size!r}')
        self.chunk_size = chunk_size

    def merge(self, bboxes: Tensor, scores: Tensor, labels: Tensor) -> MergeResult:
        return self.merge_index(bboxes, scores, labels)[:3]

    def merge_index(self, bboxes: Tensor, scores: Tensor, labels: Tensor
                    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """As :meth:`merge`; ``index`` names each survivor before its refinement (a mask
        follows the kept box's own prediction, never a blend)."""
        kept_boxes, kept_scores, kept_labels, kept_index = merge_with_index(
            self.base, bboxes, scores, labels)
        dtype = torch.float64 if bboxes.dtype == torch.float64 else torch.float32
        pool, weights = bboxes.to(dtype), scores.to(dtype)
        refined = kept_boxes.to(dtype).clone()
        present, counts = torch.unique(labels, return_counts=True)
        kept_present, kept_counts = torch.unique(kept_labels, return_counts=True)
        pool_count = dict(zip(present.tolist(), counts.tolist()))
        same_label_pairs = sum(k * pool_count.get(c, 0) for c, k in
                               zip(kept_present.tolist(), kept_counts.tolist()))
        saved = len(kept_labels) * len(labels) - same_label_pairs
        if saved < _VOTE_PAIRS_PER_BLOCK * len(kept_present):
            # Few boxes: one block over all survivors x all boxes, labels masked.
            blocks = [(torch.arange(len(kept_labels), device=bboxes.device), None)]
        else:  # one block per label: survivors of the label x boxes of the label
            pool_groups = dict(zip(present.tolist(), _label_groups(labels)))
            blocks = [(g, pool_groups.get(int(kept_labels[g[0]])))
                      for g in _label_groups(kept_labels)]
        for rows_all, members in blocks:
            cand = pool if members is None else pool[members]
            cand_w = weights if members is None else weights[members]
            for start in range(0, len(rows_all), self.chunk_size):
                rows = rows_all[start:start + self.chunk_size]
                kb = refined[rows]
                votes = _iou(kb, cand) >= self.vote_threshold
                if members is None:
                    votes &= kept_labels[rows][:, None] == labels[None, :]
                w = votes.to(dtype) * cand_w[None, :]
                total = w.sum(1, keepdim=True)
                mean = (w @ cand) / total.clamp(min=torch.finfo(dtype).tiny)
                # A survivor nobody votes for (zero scores, a base that moves boxes) stays.
                refined[rows] = torch.where(total > 0, mean, kb)
        return refined.to(bboxes.dtype), kept_scores, kept_labels, kept_index


class _MatchMerger(BaseMerger):
    """SAHI's postprocess as a merger (shared by the three below; see
    :mod:`mmsniper.chips.match_merge` for the rules). NumPy on the CPU: CUDA inputs are
    copied there and the results back."""

    kind = ''

    def __init__(self, match_metric: str = 'IOS', match_threshold: float = 0.5,
                 class_agnostic: bool = False) -> None:
        from ..chips.match_merge import check_metric, check_threshold

        self.match_metric = check_metric(match_metric)
        self.match_threshold = check_threshold(match_threshold)
        self.class_agnostic = bool(class_agnostic)

    def merge(self, bboxes: Tensor, scores: Tensor, labels: Tensor) -> MergeResult:
        return self.merge_index(bboxes, scores, labels)[:3]

    def merge_index(self, bboxes: Tensor, scores: Tensor, labels: Tensor
                    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """As :meth:`merge`; ``index`` names each output's keeper (for a merged box: the
        highest-scoring detection of its group, whose mask follows it)."""
        from ..chips.match_merge import match_merge

        b, s, lb, index = match_merge(
            bboxes.detach().cpu().numpy(), scores.detach().cpu().numpy(),
            labels.detach().cpu().numpy(), self.kind, self.match_metric,
            self.match_threshold, self.class_agnostic)
        dev = bboxes.device
        return (torch.from_numpy(b).to(device=dev, dtype=bboxes.dtype),
                torch.from_numpy(s).to(device=scores.device, dtype=scores.dtype),
                torch.from_numpy(lb).to(labels.device).long(),
                torch.from_numpy(index).to(dev))


@MERGERS.register_module()
class MatchNMSMerger(_MatchMerger):
    """SAHI's ``NMS`` postprocess: greedy NMS by IoU or IoS, per label or across labels.

    A box goes when an earlier kept box (by score; SAHI's tie rule) matches it:
    ``metric >= match_threshold``. Unlike :class:`NMSMerger` (mmcv's kernel, IoU only,
    removes above the threshold) it takes IoS and a class-agnostic mode.

    Args:
        match_metric (str): ``'IOU'`` (intersection over union) or ``'IOS'``
            (intersection over the smaller box). Default ``'IOS'`` (SAHI's
            ``get_sliced_prediction`` default).
        match_threshold (float): least metric that matches, in ``(0, 1]``. Default 0.5.
        class_agnostic (bool): boxes of different labels match too. Default False.
    """

    kind = 'NMS'


@MERGERS.register_module()
class GreedyNMMMerger(_MatchMerger):
    """SAHI's ``GREEDYNMM`` postprocess (its ``get_sliced_prediction`` default).

    The boxes NMS keeps (:class:`MatchNMSMerger`) are kept; every box NMS removes joins
    the first kept box that matches it, and is merged into it if it still matches the
    growing box: the box becomes the enclosing box of both, the score the higher one.

    Args:
        match_metric, match_threshold, class_agnostic: as :class:`MatchNMSMerger`.
    """

    kind = 'GREEDYNMM'


@MERGERS.register_module()
class NMMMerger(_MatchMerger):
    """SAHI's ``NMM`` postprocess: transitive non-maximum merging.

    As :class:`GreedyNMMMerger`, but a box joins the group of the first higher-scoring
    box that matches it, kept or itself merged (if A matches B and B matches C, all
    three are one group even when A and C do not match).

    Args:
        match_metric, match_threshold, class_agnostic: as :class:`MatchNMSMerger`.
    """

    kind = 'NMM'
