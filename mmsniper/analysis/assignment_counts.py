"""What each training arm's assigners and samplers make of the same images at the same levels.

Behind ``tools/analysis_tools/count_assignments.py``; the numbers are in
``docs/reports/snip_investigation.md``.

For a whole-image arm (SNIP: ``SnipResize``; the full pyramid without ranges: a fixed-size
``Resize``) every chosen image is prepared at every level of the arm's pyramid; for SNIPER,
every positive chip the planner cuts from that image at that level (``SniperDataset``
tickets, the chips an epoch trains on). Each sample goes, alone (batch of 1), through the
arm's own model, built from its config: data preprocessor, backbone and neck, then

- RPN: the anchors inside the image (``anchor_inside_flags``, the head's
  ``allowed_border``), assigned by the config's ``rpn.assigner`` with the sample's ignored
  boxes and sampled by ``rpn.sampler``, exactly the calls ``AnchorHead._get_targets_single``
  makes;
- R-CNN: the RPN's training proposals (``rpn_proposal``), the range filter of
  ``SniperRoIHead`` where the head has it, then ``rcnn.assigner`` and ``rcnn.sampler``
  (which adds the valid ground truth as proposals), as ``StandardRoIHead.loss`` does.

Counted per sample: valid and ignored ground truth; positive, ignored and negative
anchors (ignored split into "between the IoU thresholds" and "claimed by an ignored box":
those an assignment without the ignored boxes makes negative), negatives lying mostly on an
ignored box (IoF >= 0.5: the parts of an object taught as background), and the sampled
positives and negatives; the same for proposals. Weights are random (``init_weights``, the
backbone's ``init_cfg`` dropped) unless a checkpoint is given: the anchors' counts do not
depend on them, the proposals' do (random weights propose nearly the anchors themselves).

Frames: every box is in the pixels of the network input (SCALED pixels of the whole image,
CHIP pixels of a chip), ``(x1, y1, x2, y2)``.
"""
from __future__ import annotations

import copy
import logging
from collections import defaultdict
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

#: Counters, in table order.
RPN_KEYS = ('anchors', 'pos', 'neg', 'ign', 'ign_by_box', 'neg_on_ignored', 'neg_on_valid',
            'sampled_pos', 'sampled_neg', 'sampled_neg_on_ignored', 'sampled_neg_on_valid',
            'gt_unmatched')
RCNN_KEYS = ('proposals', 'kept', 'pos', 'neg', 'ign', 'ign_by_box', 'neg_on_ignored',
             'neg_on_valid', 'sampled_pos', 'sampled_neg', 'sampled_neg_on_ignored',
             'sampled_neg_on_valid', 'gt_unmatched')
GT_KEYS = ('valid', 'ignored', 'no_valid')


def _strip_flip(pipeline: Sequence[dict]) -> List[dict]:
    """The pipeline without ``RandomFlip`` (counts do not depend on it; runs repeat)."""
    return [copy.deepcopy(t) for t in pipeline if t.get('type') != 'RandomFlip']


def load_arm(config: str, checkpoint: Optional[str] = None, seed: int = 0,
             with_model: bool = True):
    """``(cfg, model)`` of a training config: the ``sniper`` block applied as the runner
    applies it, the model built in training mode with random weights (or ``checkpoint``'s;
    None without ``with_model``)."""
    import torch
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint

    import mmsniper  # noqa: F401

    from ..engine.sniper_settings import apply_sniper_settings

    cfg = apply_sniper_settings(Config.fromfile(config), config)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    if not with_model:
        return cfg, None
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # init_weights logs every parameter's initialiser
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    if checkpoint:
        load_checkpoint(model, checkpoint, map_location='cpu')
    model.train()
    return cfg, model


def _base_dataset_cfg(cfg) -> dict:
    ds = cfg.train_dataloader.dataset
    return copy.deepcopy(ds.dataset if ds.get('type') == 'SniperDataset' else ds)


class _FixedLevel:
    """Stands in for ``SnipResize``'s generator: always the level asked for."""

    def __init__(self, level: int) -> None:
        self.level = level

    def integers(self, n: int) -> int:
        if not 0 <= self.level < n:
            raise ValueError(f'level {self.level}: the config has {n} training scales')
        return self.level


def arm_samples(kind: str, cfg, indices: Sequence[int], seed: int = 0
                ) -> Iterator[Tuple[int, int, dict]]:
    """``(image index, level, packed sample)`` of an arm, for every image and level.

    Args:
        kind (str): ``'snip'`` (the config's ``SnipResize``, its level forced),
            ``'pyramid'`` (each scale of the config's ``RandomChoiceResize`` in turn, or
            its one ``Resize``: single-scale training) or
            ``'sniper'`` (the positive chips of the image at the level, planned with
            ``seed``).
        cfg (Config): the arm's resolved config (:func:`load_arm`).
        indices (Sequence[int]): image indices in the training annotation file.
    """
    from mmdet.registry import DATASETS, TRANSFORMS
    from mmengine.dataset import Compose

    if kind == 'sniper':
        ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
        ds_cfg.dataset.pipeline = _strip_flip(ds_cfg.dataset.pipeline)
        ds = DATASETS.build(ds_cfg)
        for idx in indices:
            plan = ds.plan_image(idx, np.random.default_rng([seed, idx]))
            for level in range(len(ds.scales)):
                for chip in plan.positive:
                    if chip.level == level:
                        yield idx, level, ds[ds.ticket(idx, chip)]
        return
    base = _base_dataset_cfg(cfg)
    pipeline = _strip_flip(base.pipeline)
    pos = next((i for i, t in enumerate(pipeline)
                if t['type'] in ('SnipResize', 'RandomChoiceResize', 'Resize')), None)
    if pos is None:
        raise ValueError(f'{kind}: the training pipeline has no SnipResize, '
                         'RandomChoiceResize or Resize')
    base.pipeline = []
    ds = DATASETS.build(base)
    step = pipeline[pos]
    if kind == 'snip':
        if step['type'] != 'SnipResize':
            raise ValueError(f'snip: expected SnipResize in the pipeline, got {step["type"]}')
        snip = TRANSFORMS.build(step)
        levels = snip.settings.num_levels
        views = []
        for level in range(levels):
            t = copy.copy(snip)
            t._generator = (lambda lv=level: _FixedLevel(lv))
            views.append(t)
    elif kind == 'pyramid':
        if step['type'] == 'Resize':  # single-scale: a pyramid of one level
            views = [TRANSFORMS.build(step)]
        elif step['type'] == 'RandomChoiceResize':
            views = [TRANSFORMS.build(dict(type='Resize', scale=s,
                                           keep_ratio=step.get('keep_ratio', True)))
                     for s in step['scales']]
        else:
            raise ValueError(f'pyramid: expected RandomChoiceResize or Resize, got '
                             f'{step["type"]}')
    else:
        raise ValueError(f"kind: expected 'snip', 'pyramid' or 'sniper', got {kind!r}")
    before, after = Compose(pipeline[:pos]), Compose(pipeline[pos + 1:])
    for idx in indices:
        for level, view in enumerate(views):
            yield idx, level, after(view(before(ds.get_data_info(idx))))


def _iof(boxes, regions):
    """Tensor[N]: the largest share of each box's area inside one of ``regions``."""
    from mmdet.structures.bbox import bbox_overlaps

    if len(regions) == 0 or len(boxes) == 0:
        return boxes.new_zeros(len(boxes))
    return bbox_overlaps(boxes, regions, mode='iof').max(dim=1).values


def _count(assigner, sampler, priors, gt, ignored, counts: dict) -> None:
    """Assign and sample ``priors`` (Tensor[N, 4]) as a head does; add to ``counts``."""
    import torch
    from mmdet.structures.bbox import get_box_tensor
    from mmengine.structures import InstanceData

    from ..models.ignore import ignored_bboxes

    pred = InstanceData(priors=priors)
    res = assigner.assign(pred, gt, ignored)
    plain = assigner.assign(InstanceData(priors=priors), gt, None)
    inds, inds0 = res.gt_inds, plain.gt_inds
    ign_boxes = ignored_bboxes(ignored)
    on_ign = _iof(priors, ign_boxes) >= 0.5 if ign_boxes is not None else \
        torch.zeros(len(priors), dtype=torch.bool)
    on_valid = _iof(priors, get_box_tensor(gt.bboxes)) >= 0.5
    neg = inds == 0
    counts['pos'] += int((inds > 0).sum())
    counts['neg'] += int(neg.sum())
    counts['ign'] += int((inds < 0).sum())
    counts['ign_by_box'] += int(((inds < 0) & (inds0 == 0)).sum())
    counts['neg_on_ignored'] += int((neg & on_ign).sum())
    counts['neg_on_valid'] += int((neg & on_valid).sum())
    # valid boxes no prior is assigned to (before the sampler adds any ground truth)
    counts['gt_unmatched'] += len(gt) - len(torch.unique(inds[inds > 0]))
    s = sampler.sample(res, InstanceData(priors=priors), gt)
    counts['sampled_pos'] += len(s.pos_inds)
    counts['sampled_neg'] += len(s.neg_inds)
    # a sampler that adds the ground truth as priors puts it first: indices shift by it
    n_gt_added = len(gt) if getattr(sampler, 'add_gt_as_proposals', False) else 0
    neg_prior = s.neg_inds - n_gt_added
    counts['sampled_neg_on_ignored'] += int(on_ign[neg_prior[neg_prior >= 0]].sum())
    counts['sampled_neg_on_valid'] += int(on_valid[neg_prior[neg_prior >= 0]].sum())


def count_gt(sample: dict) -> Dict[str, Dict[str, int]]:
    """The ground-truth counts alone (no model) of one packed sample."""
    ds = sample['data_samples']
    n_ign = len(ds.ignored_instances) if 'ignored_instances' in ds else 0
    return {'gt': {'valid': len(ds.gt_instances), 'ignored': n_ign,
                   'no_valid': int(len(ds.gt_instances) == 0)}}


def count_sample(model, cfg, sample: dict) -> Dict[str, Dict[str, int]]:
    """The counts (``{'gt', 'rpn', 'rcnn'}`` -> counter -> int) of one packed sample."""
    import torch
    from mmdet.models.task_modules.prior_generators import anchor_inside_flags
    from mmdet.registry import TASK_UTILS
    from mmengine.dataset import pseudo_collate

    from ..models.roi_heads import _RangeAwareMixin, filter_proposals_by_range

    out = {'gt': defaultdict(int), 'rpn': defaultdict(int), 'rcnn': defaultdict(int)}
    with torch.no_grad():
        data = model.data_preprocessor(pseudo_collate([sample]), training=True)
        ds = data['data_samples'][0]
        gt, ignored = ds.gt_instances, ds.get('ignored_instances')
        out['gt']['valid'] += len(gt)
        out['gt']['ignored'] += len(ignored) if ignored is not None else 0
        out['gt']['no_valid'] += int(len(gt) == 0)
        x = model.extract_feat(data['inputs'])
        meta = ds.metainfo
        # RPN: the anchors AnchorHead._get_targets_single assigns (class-agnostic labels)
        rpn, tc = model.rpn_head, cfg.model.train_cfg
        anchors, valid = rpn.get_anchors([f.shape[-2:] for f in x], [meta], device='cpu')
        flat, flags = torch.cat(anchors[0]), torch.cat(valid[0])
        inside = anchor_inside_flags(flat, flags, meta['img_shape'][:2],
                                     tc.rpn.allowed_border)
        rpn_gt = gt.clone()
        rpn_gt.labels = torch.zeros_like(rpn_gt.labels)
        out['rpn']['anchors'] += int(inside.sum())
        _count(rpn.assigner, rpn.sampler, flat[inside], rpn_gt, ignored, out['rpn'])
        # R-CNN: the training proposals, the head's range filter, its assigner and sampler
        props = rpn.predict_by_feat(*rpn(x), batch_img_metas=[meta], cfg=tc.rpn_proposal,
                                    rescale=False)
        out['rcnn']['proposals'] += len(props[0])
        if isinstance(model.roi_head, _RangeAwareMixin):
            props = filter_proposals_by_range(props, [ds])
        out['rcnn']['kept'] += len(props[0])
        assigner = TASK_UTILS.build(tc.rcnn.assigner)
        sampler = TASK_UTILS.build(tc.rcnn.sampler, default_args=dict(context=model.roi_head))
        _count(assigner, sampler, props[0].bboxes, gt, ignored, out['rcnn'])
    return out


def count_assignments(arms: Dict[str, Tuple[str, str]], indices: Sequence[int],
                      checkpoint: Optional[str] = None, seed: int = 0,
                      gt_only: bool = False) -> Dict[str, Any]:
    """Counts of every arm, image and level.

    Args:
        arms (dict): name -> ``(kind, config)``, kind as in :func:`arm_samples`.
        indices (Sequence[int]): training image indices (the same for every arm).
        checkpoint (str, optional): weights for every arm (one architecture); random
            otherwise.
        seed (int): the weights' and SNIPER's chip plan's seed.
        gt_only (bool): count the valid and ignored ground truth only (no model: fast
            enough for every image of the set).

    Returns:
        dict: arm -> ``{'levels': {level: {'samples', 'gt', 'rpn', 'rcnn'}}, 'batch_size',
        'config', 'kind'}``, the counters summed over the chosen images (per level).
    """
    result: Dict[str, Any] = {}
    for name, (kind, config) in arms.items():
        cfg, model = load_arm(config, checkpoint, seed, with_model=not gt_only)
        levels: Dict[int, Dict[str, Any]] = {}
        for _idx, level, sample in arm_samples(kind, cfg, indices, seed):
            c = count_gt(sample) if gt_only else count_sample(model, cfg, sample)
            row = levels.setdefault(level, {'samples': 0, 'gt': defaultdict(int),
                                            'rpn': defaultdict(int),
                                            'rcnn': defaultdict(int)})
            row['samples'] += 1
            for part in c:
                for k, v in c[part].items():
                    row[part][k] += v
        result[name] = dict(kind=kind, config=config,
                            batch_size=int(cfg.train_dataloader.batch_size),
                            levels={lv: {k: (dict(v) if isinstance(v, dict) else v)
                                         for k, v in row.items()}
                                    for lv, row in sorted(levels.items())})
    return result


def _per_iteration(r: Dict[str, Any], part: str, key: str) -> float:
    """A counter per training iteration: a sample's mean times the batch size (SNIP and
    the pyramid draw one level per sample uniformly: the levels' mean; SNIPER trains every
    chip once an epoch: the chips' mean)."""
    rows = list(r['levels'].values())
    if r['kind'] == 'sniper':
        n = sum(row['samples'] for row in rows)
        mean = sum(row[part].get(key, 0) for row in rows) / max(n, 1)
    else:
        mean = float(np.mean([row[part].get(key, 0) / max(row['samples'], 1)
                              for row in rows]))
    return mean * r['batch_size']


def format_counts(result: Dict[str, Any], images: int) -> str:
    """Markdown tables: per arm and level, totals over the images; then per training
    iteration (:func:`_per_iteration`)."""
    def table(title: str, head: Sequence[str], rows: List[List[Any]]) -> List[str]:
        return [title, '', '| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)] + \
            ['| ' + ' | '.join(str(v) for v in row) + ' |' for row in rows] + ['']

    lines: List[str] = []
    if not any(row['rpn'] for r in result.values() for row in r['levels'].values()):
        rows = [[arm, lv, row['samples']] + [row['gt'].get(k, 0) for k in GT_KEYS]
                for arm, r in result.items() for lv, row in r['levels'].items()]
        lines += table(f'Ground truth, summed over {images} images, per level:',
                       ['arm', 'level', 'samples'] + ['gt ' + k for k in GT_KEYS], rows)
        rows = [[arm, r['batch_size']] + [f'{_per_iteration(r, "gt", k):.2f}'
                                          for k in GT_KEYS] for arm, r in result.items()]
        lines += table('Per training iteration (mean sample x batch size):',
                       ['arm', 'batch'] + ['gt ' + k for k in GT_KEYS], rows)
        return '\n'.join(lines).rstrip()
    rows = [[arm, lv, row['samples']] + [row['gt'].get(k, 0) for k in GT_KEYS]
            + [row['rpn'].get(k, 0) for k in RPN_KEYS]
            for arm, r in result.items() for lv, row in r['levels'].items()]
    lines += table(f'Ground truth and anchors (RPN), summed over {images} images, per level:',
                   ['arm', 'level', 'samples'] + ['gt ' + k for k in GT_KEYS]
                   + list(RPN_KEYS), rows)
    rows = [[arm, lv] + [row['rcnn'].get(k, 0) for k in RCNN_KEYS]
            for arm, r in result.items() for lv, row in r['levels'].items()]
    lines += table('Proposals and RoIs (R-CNN), the same samples:', ['arm', 'level']
                   + list(RCNN_KEYS), rows)
    cols = [('gt', 'valid'), ('gt', 'ignored'), ('rpn', 'sampled_pos'),
            ('rpn', 'sampled_neg'), ('rpn', 'sampled_neg_on_ignored'),
            ('rpn', 'sampled_neg_on_valid'), ('rpn', 'gt_unmatched'),
            ('rcnn', 'sampled_pos'), ('rcnn', 'sampled_neg'),
            ('rcnn', 'sampled_neg_on_ignored')]
    rows = [[arm, r['batch_size']] + [f'{_per_iteration(r, p, k):.1f}' for p, k in cols]
            for arm, r in result.items()]
    lines += table('Per training iteration (mean sample x batch size):',
                   ['arm', 'batch'] + [f'{p} {k}' for p, k in cols], rows)
    return '\n'.join(lines).rstrip()
