"""The AutoFocus measurement on ScaleShapes: AP against pixels processed
(docs/reports/autofocus.md).

Driver of ``tools/analysis_tools/autofocus_sweep.py``. Steps (each resumable, as the SNIPER
experiment's, whose helpers it uses):

1. train ``configs/scaleshapes/autofocus_faster_r18_scaleshapes.py`` on the experiment's
   schedule (``--iters``, default 1000), unless ``--checkpoint`` is given; with ``box_only``
   also the same recipe without the focus branch (``sniper_faster_r18_scaleshapes.py``),
   whose single-scale and pyramid AP the table shows beside (does the branch cost box AP?);
2. test the AutoFocus model single-scale, with the full pyramid (``tta_model.full_pyramid``)
   and with AutoFocus at each threshold pair of the sweep (``--tta --out``);
3. per run: COCO AP / APs, the pyramid pixels processed relative to the full pyramid (summed
   over the test images, from each result's ``autofocus_pixels``), images that ran the
   coarsest scale only, and the median logged seconds per test image;
4. ``OUT/results.{json,md,png}`` (the plot: AP against the pixel fraction).
"""
from __future__ import annotations

import os
import os.path as osp
import pickle
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .experiment import (
    EVAL_CONFIG,
    _read_json,
    _write_json,
    ensure_data,
    format_cmd,
    median_test_sec_per_img,
    read_test_metrics,
    repo_path,
    run_logged,
    tool_cmd,
    train,
    write_results,
)

AUTOFOCUS_CONFIG = 'configs/scaleshapes/autofocus_faster_r18_scaleshapes.py'
#: (coarsest -> middle, middle -> finest) FocusPixel thresholds; the reference is (0.02, 0.2).
DEFAULT_SWEEP: Tuple[Tuple[float, float], ...] = (
    (0.005, 0.05), (0.01, 0.1), (0.02, 0.2), (0.05, 0.3), (0.1, 0.5), (0.2, 0.7))


def pixel_summary(preds: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Pyramid pixels of a ``tools/test.py --tta --out`` run of ``AutoFocusTTAModel``.

    Args:
        preds (list[dict]): the pickled results: per image, ``autofocus_pixels`` and
            ``autofocus_full_pixels`` (``pyramid_level -> pixels``), ``autofocus_coarse_only``.

    Returns:
        dict: ``pixels`` and ``full_pixels`` (sums over images and levels), ``fraction``
        (their ratio), ``per_level`` (level -> fraction), ``coarse_only`` (images), ``images``.
    """
    if not preds or 'autofocus_pixels' not in preds[0]:
        raise ValueError('pixel_summary: the results hold no autofocus_pixels; test with an '
                         'AutoFocus config and --tta')
    px: Dict[int, int] = {}
    full: Dict[int, int] = {}
    for p in preds:
        for lv, v in p['autofocus_pixels'].items():
            px[int(lv)] = px.get(int(lv), 0) + int(v)
        for lv, v in p['autofocus_full_pixels'].items():
            full[int(lv)] = full.get(int(lv), 0) + int(v)
    total, total_full = sum(px.values()), sum(full.values())
    return dict(pixels=total, full_pixels=total_full, fraction=total / max(total_full, 1),
                per_level={lv: px.get(lv, 0) / max(full[lv], 1) for lv in sorted(full)},
                coarse_only=sum(bool(p['autofocus_coarse_only']) for p in preds),
                images=len(preds))


def run_test(config: str, checkpoint: str, work_dir: str, tta: bool,
             cfg_options: Sequence[str] = (), echo: bool = True) -> Dict[str, Any]:
    """One ``tools/test.py`` run; cached in ``work_dir/metrics.json``.

    Returns:
        dict: ``metrics`` (AP... in percent), ``pixels`` (:func:`pixel_summary`, with
        ``--tta``), ``sec_per_img`` (median logged test iteration time, batch 1),
        ``seconds`` (wall clock, model loading included), ``command``.
    """
    cache = osp.join(work_dir, 'metrics.json')
    if osp.isfile(cache):
        return _read_json(cache)
    os.makedirs(work_dir, exist_ok=True)
    out_pkl = osp.join(work_dir, 'preds.pkl')
    cmd = tool_cmd('test.py', repo_path(config), checkpoint, '--work-dir', work_dir,
                   '--out', out_pkl)
    if tta:
        cmd.append('--tta')
    if cfg_options:
        cmd += ['--cfg-options', *cfg_options]
    log = osp.join(work_dir, 'test.out')
    secs = run_logged(cmd, log, echo)
    res = dict(metrics=read_test_metrics(work_dir), seconds=secs, command=format_cmd(cmd),
               sec_per_img=median_test_sec_per_img(log))
    if tta and config == AUTOFOCUS_CONFIG:
        with open(out_pkl, 'rb') as f:
            res['pixels'] = pixel_summary(pickle.load(f))
    _write_json(cache, res)
    return res


def run_sweep(out_dir: str = 'work_dirs/autofocus_sweep', iters: int = 1000, seed: int = 0,
              sweep: Sequence[Tuple[float, float]] = DEFAULT_SWEEP,
              checkpoint: Optional[str] = None, box_only: bool = False,
              cfg_options: Sequence[str] = (), echo: bool = True) -> Dict[str, Any]:
    """Train (unless ``checkpoint``), test every setting, write ``out_dir/results.*``."""
    t0 = time.perf_counter()
    ensure_data()
    res: Dict[str, Any] = dict(iters=iters, seed=seed, runs={})
    if checkpoint is None:
        tr = train(repo_path(AUTOFOCUS_CONFIG), osp.join(out_dir, 'train_autofocus'), iters,
                   seed, cfg_options, echo=echo)
        checkpoint, res['train'] = tr['checkpoint'], tr
    res['checkpoint'] = checkpoint
    runs = res['runs']
    runs['single-scale'] = run_test(AUTOFOCUS_CONFIG, checkpoint,
                                    osp.join(out_dir, 'test_single'), False, cfg_options, echo)
    runs['full pyramid'] = run_test(AUTOFOCUS_CONFIG, checkpoint,
                                    osp.join(out_dir, 'test_full'), True,
                                    [*cfg_options, 'tta_model.full_pyramid=True'], echo)
    for t0_, t1_ in sweep:
        name = f'AutoFocus {t0_:g} / {t1_:g}'
        runs[name] = run_test(AUTOFOCUS_CONFIG, checkpoint,
                              osp.join(out_dir, f'test_af_{t0_:g}_{t1_:g}'), True,
                              [*cfg_options, f'tta_model.focus_steps.0.threshold={t0_}',
                               f'tta_model.focus_steps.1.threshold={t1_}'], echo)
    if box_only:
        tr = train(repo_path(EVAL_CONFIG), osp.join(out_dir, 'train_box_only'), iters, seed,
                   cfg_options, echo=echo)
        res['box_only'] = {
            'single-scale': run_test(EVAL_CONFIG, tr['checkpoint'],
                                     osp.join(out_dir, 'test_box_single'), False, cfg_options,
                                     echo),
            'full pyramid': run_test(EVAL_CONFIG, tr['checkpoint'],
                                     osp.join(out_dir, 'test_box_pyramid'), True, cfg_options,
                                     echo)}
    res['seconds'] = time.perf_counter() - t0
    write_results(out_dir, res, results_markdown(res), plot_sweep)
    return res


def _f(v: Optional[float], fmt: str = '.1f') -> str:
    return '-' if v is None else format(v, fmt)


def results_markdown(res: Dict[str, Any]) -> str:
    """The table: per run AP, APs, pixels vs the full pyramid, coarse-only images, s/img."""
    lines = ['| run | AP | APs | pyramid pixels vs full | coarsest only (images) | s / image |',
             '|---|---|---|---|---|---|']
    rows: List[Tuple[str, Dict[str, Any]]] = list(res['runs'].items())
    rows += [(f'box-only model, {k}', v) for k, v in res.get('box_only', {}).items()]
    for name, r in rows:
        m, px = r['metrics'], r.get('pixels')
        frac = '-' if px is None else f'{px["fraction"]:.2f}x'
        only = '-' if px is None else f'{px["coarse_only"]} / {px["images"]}'
        lines.append(f'| {name} | {_f(m.get("AP"))} | {_f(m.get("APs"))} | {frac} | {only} '
                     f'| {_f(r.get("sec_per_img"), ".3f")} |')
    return '\n'.join(lines)


def plot_sweep(res: Dict[str, Any], path: str) -> str:
    """AP against the pyramid pixel fraction: the sweep's curve, the full pyramid, one scale."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    runs = res['runs']
    pts = sorted((r['pixels']['fraction'], r['metrics']['AP'], name)
                 for name, r in runs.items() if name.startswith('AutoFocus'))
    fig, ax = plt.subplots(figsize=(5, 3.5))
    if pts:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], 'o-', label='AutoFocus (sweep)')
    full = runs.get('full pyramid')
    if full:
        ax.plot([1.0], [full['metrics']['AP']], 's', label='full pyramid')
    single = runs.get('single-scale')
    if single:
        ax.axhline(single['metrics']['AP'], ls='--', c='gray', label='single scale')
    ax.set_xlabel('pyramid pixels / full pyramid')
    ax.set_ylabel('box AP')
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
