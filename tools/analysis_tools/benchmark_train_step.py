"""Seconds per training iteration of a config on the CPU, under the options the CPU offers.

    python tools/analysis_tools/benchmark_train_step.py CONFIG [--iters 12] [--warmup 3]
        [--variant NAME ...] [--threads N] [--cfg-options key=value ...] [--out results.json]

Each variant runs in its own process (threads and autocast settings do not leak between
them) on the SAME batches: the config's training dataloader with ``num_workers=0`` and a
fixed seed, the first ``--warmup + --iters`` batches loaded once before the clock starts, so
only the model's ``train_step`` (forward, losses, backward, optimizer step) is timed.
Reported per variant: median and mean seconds per iteration, and the loss of the last
iteration (a variant that breaks training shows it there).

Variants (``--variant``, several allowed; default all):

- ``baseline``: the config as it is;
- ``channels_last``: the whole model and its inputs in ``torch.channels_last``, the RoI
  extractors' feature maps made contiguous first: mmcv's CPU RoIAlign reads its input as
  NCHW memory whatever its strides, and gives wrong features on channels_last maps;
- ``bf16``: ``torch.autocast('cpu', dtype=torch.bfloat16)`` around ``train_step``
  (mmengine's ``AmpOptimWrapper`` refuses the CPU); on CPUs without native bf16 (no
  ``avx512_bf16`` / AMX) this emulates;
- ``threads1``: ``torch.set_num_threads(1)`` (the other core left to the data workers);
- ``compile``: ``torch.compile`` on the backbone (its compile time is reported apart);
- ``freeze<K>``: the backbone's ``frozen_stages=K`` (fewer layers to back-propagate).

Variants combine with ``+``: ``channels_last+freeze2``.
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
import statistics
import subprocess
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _bootstrap  # noqa: E402,F401  (checkout first on sys.path)

VARIANTS = ('baseline', 'channels_last', 'bf16', 'threads1', 'compile', 'freeze3', 'freeze4')


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split('\n\n', 2)[2])
    p.add_argument('config', help='training config (its train_dataloader and model are used)')
    p.add_argument('--iters', type=int, default=12, help='timed iterations per variant')
    p.add_argument('--warmup', type=int, default=3, help='untimed iterations first')
    p.add_argument('--variant', nargs='+', default=list(VARIANTS),
                   help=f'variants to run, from {", ".join(VARIANTS)} or freeze<K>')
    p.add_argument('--threads', type=int, default=0,
                   help='torch threads for every variant but threads1 (0: torch default)')
    p.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                   help='config overrides (mmengine syntax)')
    p.add_argument('--out', help='also write the results as JSON here')
    p.add_argument('--one', help=argparse.SUPPRESS)  # internal: run one variant, print JSON
    return p.parse_args(argv)


def _overrides(options):
    from mmengine.config import DictAction

    ns = argparse.Namespace()
    DictAction(option_strings=[], dest='o')(None, ns, options)
    return ns.o


def _contiguous_feats(module, args):
    feats, *rest = args
    return (tuple(f.contiguous() for f in feats), *rest)


def run_one(args: argparse.Namespace, variant: str) -> dict:
    """Build the runner's model and optimizer, load the batches, time ``train_step``."""
    import torch
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope

    import mmsniper  # noqa: F401  (registers everything)
    from mmsniper.analysis.benchmark import channels_last_inputs
    from mmsniper.engine.sniper_settings import apply_sniper_settings

    parts = variant.split('+')
    if 'threads1' in parts:
        torch.set_num_threads(1)
    elif args.threads:
        torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(_overrides(args.cfg_options))
    for part in parts:
        if part.startswith('freeze'):
            cfg.model.backbone.frozen_stages = int(part[len('freeze'):])
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg = apply_sniper_settings(cfg)
    init_default_scope(cfg.get('default_scope', 'mmdet'))

    from mmengine.runner import Runner, set_random_seed
    set_random_seed(0)  # torch, NumPy and random: the same weights and batches per variant

    from mmdet.registry import MODELS
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    n = args.warmup + args.iters
    batches = []
    for batch in loader:
        batches.append(batch)
        if len(batches) == n:
            break
    if len(batches) < n:
        raise SystemExit(f'{args.config}: the training set gave {len(batches)} batches, '
                         f'{n} needed (lower --iters / --warmup)')
    # mmengine's AmpOptimWrapper refuses the CPU: autocast is entered around train_step.
    optim = build_optim_wrapper(model, cfg.optim_wrapper.copy())
    autocast = torch.autocast('cpu', dtype=torch.bfloat16, enabled='bf16' in parts)
    compile_s = 0.0
    if 'channels_last' in parts:
        model = model.to(memory_format=torch.channels_last)
        model.data_preprocessor.register_forward_hook(channels_last_inputs)
        for name in ('bbox_roi_extractor', 'mask_roi_extractor'):
            extractor = getattr(getattr(model, 'roi_head', None), name, None)
            if extractor is not None:
                extractor.register_forward_pre_hook(_contiguous_feats)
    if 'compile' in parts:
        model.backbone = torch.compile(model.backbone)
    times, loss = [], float('nan')
    for i, batch in enumerate(batches):
        t0 = time.perf_counter()
        with autocast:
            log_vars = model.train_step(batch, optim)
        dt = time.perf_counter() - t0
        if 'compile' in parts and i == 0:
            compile_s = dt
        if i >= args.warmup:
            times.append(dt)
        loss = float(log_vars['loss'])
    return dict(variant=variant, threads=torch.get_num_threads(),
                median_s=round(statistics.median(times), 4),
                mean_s=round(statistics.fmean(times), 4), iters=len(times),
                last_loss=round(loss, 4), first_iter_s=round(compile_s, 1) or None)


def main(argv=None) -> list:
    args = parse_args(argv)
    if args.one:
        print('RESULT ' + json.dumps(run_one(args, args.one)), flush=True)
        return []
    for v in args.variant:
        for part in v.split('+'):
            if part not in VARIANTS and not (part.startswith('freeze') and part[6:].isdigit()):
                raise SystemExit(f'--variant {v}: expected one of {", ".join(VARIANTS)} or '
                                 'freeze<K> (K an integer), joined by +')
    results = []
    base = [sys.executable, osp.abspath(__file__), args.config, '--iters', str(args.iters),
            '--warmup', str(args.warmup), '--threads', str(args.threads)]
    if args.cfg_options:
        base += ['--cfg-options', *args.cfg_options]
    for v in args.variant:
        print(f'--- {v}', flush=True)
        proc = subprocess.run(base + ['--one', v], capture_output=True, text=True)
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith('RESULT ')]
        if proc.returncode or not line:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            res = dict(variant=v, error=' | '.join(tail))
        else:
            res = json.loads(line[-1][len('RESULT '):])
        print(json.dumps(res), flush=True)
        results.append(res)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(config=args.config, cfg_options=args.cfg_options,
                           command=' '.join(['python', *sys.argv]), results=results), f,
                      indent=1)
    return results


if __name__ == '__main__':
    main()
