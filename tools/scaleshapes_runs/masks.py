"""Mask R-CNN on chips against the box-only model, on ScaleShapes (docs/reports/masks.md,
issue 16).

Driver of ``tools/analysis_tools/mask_vs_box.py``. Steps, each resumable as the SNIPER
experiment's (whose helpers it uses):

1. train ``configs/scaleshapes/sniper_mask_r18_scaleshapes.py`` on the experiment's schedule
   (``--iters``, default 1000, the experiment's box arm);
2. train the box-only config (``sniper_faster_r18_scaleshapes.py``) the same way, or reuse a
   finished training of it (``box_work_dir``, e.g. the AutoFocus sweep's ``train_box_only``,
   which is that same recipe: same config, iterations, schedule and seed);
3. test both single-scale and with the image pyramid (``--tta``); the mask model's pyramid
   run draws its detections with their masks (``--show-dir``);
4. ``OUT/results.{json,md}``: box and mask AP per model and test, training seconds per
   iteration, median test seconds per image.
"""
from __future__ import annotations

import os.path as osp
import time
from typing import Any, Dict, List, Optional, Sequence

from .experiment import (
    EVAL_CONFIG,
    ensure_data,
    evaluate,
    repo_path,
    train,
    write_results,
)

MASK_CONFIG = 'configs/scaleshapes/sniper_mask_r18_scaleshapes.py'
#: Drawn mask detections score at least this (the demo's pictures use the same).
PICTURE_SCORE_THR = 0.3


def _tests(checkpoint: str, config: str, out_dir: str, name: str,
           cfg_options: Sequence[str], echo: bool, show: bool = False) -> Dict[str, Any]:
    """Single-scale and pyramid tests of one checkpoint, each with its s / image."""
    res = {}
    for test, tta in (('single-scale', False), ('pyramid', True)):
        wd = osp.join(out_dir, f'test_{name}_{"pyramid" if tta else "single"}')
        opts = list(cfg_options)
        show_dir = None
        if show and tta:
            show_dir = 'pictures'
            opts.append(f'default_hooks.visualization.score_thr={PICTURE_SCORE_THR}')
        res[test] = evaluate(checkpoint, wd, tta, config, show_dir=show_dir,
                             cfg_options=opts, echo=echo)
    return res


def run_mask_vs_box(out_dir: str = 'work_dirs/mask_vs_box', iters: int = 1000, seed: int = 0,
                    box_work_dir: Optional[str] = None, cfg_options: Sequence[str] = (),
                    echo: bool = True) -> Dict[str, Any]:
    """Train (resumably) and test the mask and the box-only model; write ``out_dir/results.*``.

    Args:
        out_dir (str): trainings ``train_mask``/``train_box``, tests ``test_*``, results.
        iters (int): training iterations of both models (the experiment's schedule).
        seed (int): ``randomness.seed`` of both trainings.
        box_work_dir (str, optional): a finished (or resumable) training of the box-only
            config with the same ``iters`` and ``seed``; default ``out_dir/train_box``.
        cfg_options (Sequence[str]): ``key=value`` overrides for every tool run.

    Returns:
        dict: ``iters``, ``seed``, ``mask`` and ``box`` (per model: ``train`` record with
        ``sec_per_iter``, and per test ``metrics``, ``sec_per_img``), ``pictures``, ``seconds``.
    """
    t0 = time.perf_counter()
    ensure_data()
    res: Dict[str, Any] = dict(iters=iters, seed=seed)
    for name, config, wd in (('mask', MASK_CONFIG, osp.join(out_dir, 'train_mask')),
                             ('box', EVAL_CONFIG, box_work_dir or osp.join(out_dir,
                                                                            'train_box'))):
        tr = train(repo_path(config), wd, iters, seed, cfg_options, echo=echo)
        res[name] = dict(config=config, train=tr,
                         tests=_tests(tr['checkpoint'], repo_path(config), out_dir, name,
                                      cfg_options, echo, show=name == 'mask'))
    res['pictures'] = osp.join(out_dir, 'test_mask_pyramid')
    res['seconds'] = time.perf_counter() - t0
    write_results(out_dir, res, results_markdown(res))
    return res


def _f(v: Optional[float], fmt: str = '.1f') -> str:
    return '-' if v is None else format(v, fmt)


def results_markdown(res: Dict[str, Any]) -> str:
    """Per model and test: box AP / APs, mask AP / APs, train s / iter, test s / image; then
    the two comparisons the issue asks, in words."""
    lines = ['| model | test | box AP | box APs | mask AP | mask APs | train s / iter '
             '| test s / image |', '|---|---|---|---|---|---|---|---|']
    for name, title in (('mask', 'Mask R-CNN (box + mask)'), ('box', 'box-only')):
        r = res[name]
        for test, t in r['tests'].items():
            m = t['metrics']
            lines.append(f'| {title} | {test} | {_f(m.get("AP"))} | {_f(m.get("APs"))} | '
                         f'{_f(m.get("segm_AP"))} | {_f(m.get("segm_APs"))} | '
                         f'{_f(r["train"].get("sec_per_iter"), ".2f")} | '
                         f'{_f(t.get("sec_per_img"), ".3f")} |')
    words: List[str] = []
    mt, bt = res['mask']['tests'], res['box']['tests']
    for test in ('single-scale', 'pyramid'):
        d = mt[test]['metrics']['AP'] - bt[test]['metrics']['AP']
        words.append(f'- box AP with mask supervision - without, {test}: {d:+.1f}')
    d = mt['pyramid']['metrics'].get('segm_AP', float('nan')) - \
        mt['single-scale']['metrics'].get('segm_AP', float('nan'))
    words.append(f'- mask AP, pyramid - single-scale: {d:+.1f}')
    ms, bs = res['mask']['train'].get('sec_per_iter'), res['box']['train'].get('sec_per_iter')
    if ms and bs:
        words.append(f'- training seconds per iteration, mask / box-only: {ms / bs:.2f}x')
    return '\n'.join(lines) + '\n\n' + '\n'.join(words)
