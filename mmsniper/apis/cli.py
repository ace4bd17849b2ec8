"""Command-line entry points for training and testing (``tools/train.py``, ``tools/test.py``).

They follow MMDetection's own tools flag for flag (so ``mim train mmsniper`` and
``tools/dist_train.sh`` drive them unchanged) and add what SNIPER needs: the import of
mmsniper before the config is built, and the torch >= 2.6 checkpoint fix that comes with it.
The config's ``sniper`` block is written into its components by
:func:`~mmsniper.engine.sniper_settings.apply_sniper_settings` once, when the config is
complete (overrides, flags and the ``--tta`` swap done) and before any model is built, with
the config's path in its errors; ``SniperRunner`` recognises the resolved config and does
not validate it again (it resolves configs that MMDetection's own tools give it).
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
from typing import Any, Iterator, Optional, Sequence, Tuple

from mmengine.config import Config, ConfigDict, DictAction

from ..engine.sniper_settings import apply_sniper_settings


def _common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--work-dir', help='directory for logs and checkpoints '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value pairs, for example '
        'train_cfg.max_iters=2 "sniper.chip_size=384" (no spaces inside a value)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher (tools/dist_*.sh set this)')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or --local_rank.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0,
                        help=argparse.SUPPRESS)


def _load_cfg(args: argparse.Namespace) -> Config:
    import mmsniper  # noqa: F401  (registers classes and the checkpoint allow-list)

    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file {args.config!r} does not exist')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return cfg


#: The guide that prepares a config's data, named when the data is missing.
DATA_GUIDE = 'docs/user_guides/training.md#prepare-the-data'


def _annotation_files(node: Any, path: str) -> Iterator[Tuple[str, str]]:
    """``(config key, file)`` of every local annotation file a dataloader's dataset names
    (wrappers followed: ``dataset``, ``datasets``)."""
    if isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            yield from _annotation_files(item, f'{path}[{i}]')
        return
    if not isinstance(node, dict):
        return
    ann = node.get('ann_file')
    if isinstance(ann, str) and ann and node.get('backend_args') is None:
        root = node.get('data_root') or ''
        full = ann if osp.isabs(ann) or '://' in ann else osp.join(root, ann)
        if '://' not in full:
            yield f'{path}.ann_file', full
    for key in ('dataset', 'datasets'):
        if key in node:
            yield from _annotation_files(node[key], f'{path}.{key}')


def check_data_present(cfg: Config, loader: str, config_path: str) -> None:
    """Stop with a few plain lines when the annotation file a dataloader needs is missing.

    Runs before the runner (and so before any model or weight file) is built: the message
    names the missing file, where the config expects the data, the guide that prepares it
    and ``make demo``, which needs no download.

    Raises:
        SystemExit: the message, when an annotation file of ``cfg[loader]`` does not exist.
    """
    loader_cfg = cfg.get(loader)
    if not isinstance(loader_cfg, dict):
        return
    for key, path in _annotation_files(loader_cfg.get('dataset'), f'{loader}.dataset'):
        if not osp.exists(path):
            raise SystemExit(
                f'{config_path}: the annotation file {path} ({key}) does not exist.\n'
                f'  The config expects its data under {osp.dirname(osp.abspath(path))} '
                '(paths are relative to the working directory).\n'
                f'  How to prepare it: {DATA_GUIDE}\n'
                '  To run SNIPER without any download (generated data, CPU): make demo')


def _build_runner(cfg: Config, config_path: str):
    """The runner of the complete config, its ``sniper`` block written in (errors name
    ``config_path``)."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    cfg = apply_sniper_settings(cfg, config_path)
    return Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)


def train_cli(argv: Optional[Sequence[str]] = None) -> None:
    """``tools/train.py``: train a detector from a config (SNIPER or plain MMDetection)."""
    parser = argparse.ArgumentParser(
        description='Train a detector with mmsniper (SNIPER chips when the config '
        'switches them on). Same flags as MMDetection\'s tools/train.py.')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (AmpOptimWrapper, dynamic loss scale)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate by the real batch size '
                        '(needs auto_scale_lr in the config)')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from this checkpoint; with no path, from the latest checkpoint '
        'in the work directory. Chip plans, optimizer, scheduler and iteration '
        'counters continue where they stopped.')
    _common_args(parser)
    args = parser.parse_args(argv)
    cfg = _load_cfg(args)

    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        if not ('auto_scale_lr' in cfg and 'base_batch_size' in cfg.auto_scale_lr):
            raise RuntimeError('--auto-scale-lr needs auto_scale_lr.base_batch_size '
                               f'in the config {args.config}')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(f'--resume checkpoint {args.resume!r} does not exist')
        cfg.resume, cfg.load_from = True, args.resume

    check_data_present(cfg, 'train_dataloader', args.config)
    _build_runner(cfg, args.config).train()


def _apply_tta(cfg: Config, config_path: str) -> Config:
    """Wrap the model in ``cfg.tta_model`` and swap the test pipeline for ``cfg.tta_pipeline``."""
    missing = [k for k in ('tta_model', 'tta_pipeline') if k not in cfg]
    if missing:
        raise KeyError(f'--tta needs {" and ".join(missing)} in the config {config_path}; '
                       'inherit configs/_base_/sniper_tta.py or define them')
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    data_cfg = cfg.test_dataloader.dataset
    while 'dataset' in data_cfg:
        data_cfg = data_cfg['dataset']
    data_cfg.pop('batch_shapes_cfg', None)
    data_cfg.pipeline = cfg.tta_pipeline
    return cfg


def test_cli(argv: Optional[Sequence[str]] = None) -> None:
    """``tools/test.py``: evaluate a checkpoint, single-scale or with the SNIPER pyramid."""
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) a detector checkpoint. With --tta, runs the '
        'config\'s tta_model over tta_pipeline: for SNIPER configs, the image pyramid '
        'with per-scale valid ranges merged by the configured NMS.')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='dump raw predictions to this .pkl file')
    parser.add_argument('--show-dir', help='save pictures of predictions to this directory '
                        '(inside work_dir/timestamp)')
    parser.add_argument('--tta', action='store_true',
                        help='test-time augmentation: SNIPER image pyramid for SNIPER configs')
    _common_args(parser)
    args = parser.parse_args(argv)
    cfg = _load_cfg(args)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint!r} does not exist')
    cfg.load_from = args.checkpoint

    if args.show_dir:
        vis = cfg.default_hooks.get('visualization')
        if vis is None:
            raise KeyError('--show-dir needs default_hooks.visualization in the config')
        vis.draw = True
        vis.test_out_dir = args.show_dir
    if args.tta:
        _apply_tta(cfg, args.config)

    check_data_present(cfg, 'test_dataloader', args.config)
    runner = _build_runner(cfg, args.config)
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must end with .pkl or .pickle, got {args.out!r}')
        from mmdet.evaluation import DumpDetResults

        runner.test_evaluator.metrics.append(DumpDetResults(out_file_path=args.out))
    runner.test()
