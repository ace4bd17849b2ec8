"""Extract RPN proposals over a training set at the test pyramid's scales (negative chips).

Resumable and multi-process: images are processed in chunks of ``chunk`` images; chunk
``k`` goes to rank ``k % world_size`` and is written to ``OUT.parts/chunk_k.npz`` as soon
as it is done (atomically). A restarted run skips the chunks already on disk, so an
interrupted extraction never starts over. When every chunk exists, rank 0 merges them
into ``OUT`` (the format of :mod:`mmsniper.datasets.proposals`) and removes the parts.
"""
from __future__ import annotations

import glob
import os
import os.path as osp
import shutil
from typing import Any, List, Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dist import barrier, get_dist_info, init_dist
from mmengine.logging import print_log
from mmengine.utils import ProgressBar

from ..analysis.benchmark import channels_last_inputs
from ..datasets.proposals import save_proposals


def _inner_train_dataset_cfg(cfg: Config) -> dict:
    ds = cfg.train_dataloader.dataset
    while ds.get('type') in ('SniperDataset', 'RepeatDataset', 'ClassBalancedDataset'):
        ds = ds['dataset']
    return ds


def _chunk_path(parts: str, k: int) -> str:
    return osp.join(parts, f'chunk_{k:06d}.npz')


def prepare_for_extraction(model: torch.nn.Module, channels_last: bool) -> torch.nn.Module:
    """The RPN made cheaper to run, with the same proposals (up to float rounding).

    1. Every BatchNorm is folded into the convolution before it (mmcv's ``fuse_conv_bn``:
       inference only, the model never trains again here).
    2. ``channels_last``: weights and input batches in ``torch.channels_last`` memory
       format, which oneDNN's CPU convolutions run faster (a half-width ResNet-18 RPN at
       1024x1408: 0.35 -> 0.28 s per forward, docs/reports/scaleshapes.md). Only for a model
       without an RoI stage: mmcv's CPU RoIAlign reads its input as NCHW memory whatever the
       strides.
    """
    from mmcv.cnn import fuse_conv_bn

    model = fuse_conv_bn(model)
    if channels_last and not hasattr(model, 'roi_head'):
        model = model.to(memory_format=torch.channels_last)
        model.data_preprocessor.register_forward_hook(channels_last_inputs)
    return model


def extract_proposals(config: str, checkpoint: str, out: str,
                      scales: Optional[Sequence[Any]] = None, chunk: int = 200,
                      device: str = 'cpu', nms_pre: int = 6000, nms_iou: float = 0.7,
                      max_per_scale: int = 300, cfg_options: Optional[dict] = None,
                      launcher: str = 'none', channels_last: Optional[bool] = None
                      ) -> Optional[str]:
    """Run an RPN over the training set of ``config`` at each scale; write ``out``.

    Args:
        config (str): an RPN config (e.g. ``configs/sniper_rpn_r101.py``); its training
            set (the dataset inside ``SniperDataset``) is the one processed.
        checkpoint (str): the RPN's weights.
        out (str): the ``.npz`` proposal file to write.
        scales (list, optional): pyramid scales; default ``cfg.sniper['test_scales']``.
        chunk (int): images per resumable chunk.
        device (str): ``'cpu'`` or ``'cuda'`` (with ``launcher='pytorch'``: this rank's GPU).
        nms_pre, nms_iou, max_per_scale: RPN test settings (reference: 6000, 0.7, 300).
        cfg_options (dict, optional): overrides merged into the config.
        launcher (str): ``'none'`` or ``'pytorch'``/``'slurm'`` (one process per GPU).
        channels_last (bool, optional): see :func:`prepare_for_extraction`; default: on
            the CPU only.

    Returns:
        str | None: ``out`` on rank 0 once merged, else None.
    """
    from mmcv.transforms import Compose
    from mmdet.apis import init_detector
    from mmdet.registry import DATASETS
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope

    import mmsniper  # noqa: F401

    if launcher != 'none' and device.startswith('cuda'):
        init_dist(launcher, backend='nccl')
    elif launcher != 'none':  # CPU processes: mmengine's init_dist would select a GPU
        torch.distributed.init_process_group('gloo')
    rank, world = get_dist_info()
    if rank != 0 or world > 1:
        device = f'cuda:{torch.cuda.current_device()}' if device.startswith('cuda') else device
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'RPN checkpoint {checkpoint} does not exist; train it with '
                                f'tools/train.py {config}')
    if not scales:
        from ..engine.sniper_settings import sniper_settings

        settings = sniper_settings(cfg)
        if settings is None:
            raise ValueError(f'{config}: no scales given and no `sniper` block in the config')
        scales = settings.test_scales
    scales = list(scales)
    rpn_cfg = cfg.model.test_cfg.get('rpn', cfg.model.test_cfg)
    rpn_cfg.update(nms_pre=nms_pre, max_per_img=max_per_scale,
                   nms=dict(type='nms', iou_threshold=nms_iou), min_bbox_size=0)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = init_detector(cfg, checkpoint, device=device)
    model.eval()
    model = prepare_for_extraction(
        model, device == 'cpu' if channels_last is None else channels_last)

    ds_cfg = _inner_train_dataset_cfg(cfg).copy()
    ds_cfg['pipeline'] = []
    ds_cfg['filter_cfg'] = dict(filter_empty_gt=False)
    dataset = DATASETS.build(ds_cfg)
    dataset.full_init()
    views = [Compose([dict(type='PyramidResize', scale=s, level=i),
                      dict(type='PackDetInputs', meta_keys=(
                          'img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))])
             for i, s in enumerate(scales)]
    load = Compose([dict(type='LoadImageFromFile', backend_args=None)])

    parts = out + '.parts'
    os.makedirs(parts, exist_ok=True)
    n = len(dataset)
    chunks = [k for k in range(-(-n // chunk)) if k % world == rank]
    todo = [k for k in chunks if not osp.isfile(_chunk_path(parts, k))]
    if len(todo) < len(chunks):
        print_log(f'extract_proposals: resuming, {len(chunks) - len(todo)} of {len(chunks)} '
                  'chunks already done', logger='current')
    n_todo = sum(min(chunk, n - k * chunk) for k in todo)
    bar = ProgressBar(n_todo) if rank == 0 and n_todo else None
    with torch.no_grad():
        for k in todo:
            ids: List[int] = []
            bxs: List[np.ndarray] = []
            scs: List[np.ndarray] = []
            lvs: List[np.ndarray] = []
            for i in range(k * chunk, min(n, (k + 1) * chunk)):
                info = dataset.get_data_info(i)
                base = load(dict(img_path=info['img_path'], img_id=info['img_id']))
                b_i, s_i, l_i = [], [], []
                for level, view in enumerate(views):
                    data = view(dict(base, img=base['img'].copy()))
                    pred = model.test_step(pseudo_collate([data]))[0].pred_instances
                    b_i.append(pred.bboxes.float().cpu().numpy().reshape(-1, 4))
                    s_i.append(pred.scores.float().cpu().numpy())
                    l_i.append(np.full(len(pred.scores), level, np.int8))
                ids.append(int(info['img_id']))
                bxs.append(np.concatenate(b_i))
                scs.append(np.concatenate(s_i))
                lvs.append(np.concatenate(l_i))
                if bar is not None:
                    bar.update()
            save_proposals(_chunk_path(parts, k), ids, bxs, scs, lvs)
    barrier()
    if launcher != 'none':
        # Each rank leaves the group before it returns: a process that exits with its gloo
        # group alive can abort ('terminate called without an active exception') while
        # rank 0 is still merging.
        torch.distributed.destroy_process_group()
    if rank != 0:
        return None
    return merge_chunks(parts, out, -(-n // chunk))


def merge_chunks(parts: str, out: str, expected: int) -> str:
    """Merge ``parts/chunk_*.npz`` (all ``expected`` of them) into ``out``; remove parts."""
    from ..datasets.proposals import load_proposals

    files = sorted(glob.glob(osp.join(parts, 'chunk_*.npz')))
    if len(files) != expected:
        raise RuntimeError(f'{parts}: {len(files)} of {expected} chunks present; run the '
                           'extraction again to finish the missing ones')
    ids, bxs, scs, lvs = [], [], [], []
    for f in files:
        p = load_proposals(f)
        for r in range(len(p)):
            a, b = p.offsets[r], p.offsets[r + 1]
            ids.append(int(p.image_ids[r]))
            bxs.append(p.boxes[a:b])
            scs.append(p.scores[a:b])
            lvs.append(p.levels[a:b])
    save_proposals(out, ids, bxs, scs, lvs)
    shutil.rmtree(parts)
    print_log(f'extract_proposals: wrote {out}: {len(ids)} images, '
              f'{sum(len(b) for b in bxs)} proposals', logger='current')
    return out
