"""SNIPER against what MMDetection users run today, at EQUAL COMPUTE, on ScaleShapes.

Driver of ``tools/analysis_tools/equal_compute.py`` (docs/reports/equal_compute.md). Every arm
trains the same light detector (the demo's: ImageNet MobileNetV2 Faster R-CNN frozen to stride 4,
``configs/_base_/models/faster_mnv2_light.py``) on the same data, for the same budget of
training seconds, not the same number of iterations:

1. calibrate: each arm trains ``calib_iters`` iterations; its cost is the mean logged
   seconds per iteration after the first logging window (which holds the start-up);
2. budget: ``iterations = (budget - fixed costs) / seconds per iteration``; SNIPER with
   negative chips pays its RPN training and proposal extraction out of the same budget;
3. train on the experiment's schedule scaled to those iterations (warm-up, x0.1 at 76%),
   with a checkpoint at every ``1 / curve_points`` of the run;
4. test every checkpoint with the SAME test, SNIPER's ranged pyramid: AP against training
   minutes (the logged iteration times summed up to the checkpoint, plus fixed costs);
5. test every arm's final checkpoint three ways (the arms share one architecture): single
   scale, MMDetection's ``DetTTAModel`` (its usual 3 scales x flip) and SNIPER's ranged
   pyramid, with seconds per image;
6. a second seed for SNIPER, SNIP and multi-scale jitter (same iterations as the first);
7. ``OUT/results.{json,md,png}``: the table, the claims in words, AP against minutes.

Resumable, also across sessions: every calibration, training (resumed from its last
checkpoint), test and the RPN step is kept under ``OUT/`` and skipped when done.
"""
from __future__ import annotations

import json
import math
import os
import os.path as osp
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .demo import DEFAULT_RPN_ITERS, RPN_CONFIG, negative_proposals
from .experiment import (
    _batch_size,
    _read_json,
    ensure_data,
    evaluate,
    logged_iter_times,
    machine_description,
    repo_path,
    train,
    write_results,
)


@dataclass(frozen=True)
class Arm:
    """One way of training: its config, its name in tables, the test it is naturally
    tested with (a key of :data:`TESTS`), and whether it needs negative-chip proposals."""

    config: str
    title: str
    natural_test: str
    negatives: bool = False


_CFG = 'configs/scaleshapes/'
#: Arm name -> Arm. Order = table order.
ARMS: Dict[str, Arm] = {
    'single_scale': Arm(_CFG + 'faster_mnv2_scaleshapes.py', 'single-scale', 'single'),
    'jitter': Arm(_CFG + 'jitter_faster_mnv2_scaleshapes.py',
                  'MMDetection multi-scale jitter', 'dettta'),
    'pyramid': Arm(_CFG + 'pyramid_faster_mnv2_scaleshapes.py', 'full pyramid, no ranges',
                   'pyramid'),
    'snip': Arm(_CFG + 'snip_faster_mnv2_scaleshapes.py', 'SNIP (pyramid + valid ranges)',
                'pyramid'),
    'sniper': Arm(_CFG + 'sniper_faster_mnv2_scaleshapes.py', 'SNIPER chips', 'pyramid'),
    'sniper_neg': Arm(_CFG + 'sniper_faster_mnv2_scaleshapes_neg.py',
                      'SNIPER + negative chips', 'pyramid', negatives=True),
}
#: Test name -> (config, --tta, title). Every arm's checkpoint loads into every config.
TESTS: Dict[str, Tuple[str, bool, str]] = {
    'single': (_CFG + 'faster_mnv2_scaleshapes.py', False, 'single scale'),
    'dettta': (_CFG + 'jitter_faster_mnv2_scaleshapes.py', True,
               'MMDetection DetTTAModel (3 scales x flip)'),
    'pyramid': (_CFG + 'sniper_faster_mnv2_scaleshapes.py', True, 'SNIPER ranged pyramid'),
}
#: Arms trained with a second seed.
SECOND_SEED_ARMS = ('sniper', 'snip', 'jitter')
#: Per-arm budget: 20 training minutes; with the tests, 4-5 hours in all on 2 idle cores.
DEFAULT_MINUTES = 20.0
DEFAULT_CALIB_ITERS = 50
DEFAULT_CURVE_POINTS = 4

# Training samples of each arm as (short, long) scales of mmsniper.chips.scale_factor:
# the configs' resizes (mmcv's keep-ratio (long, short) written the other way round).
_SINGLE = [(480, 800)]
_JITTER = [(s, 800) for s in (384, 403, 422, 442, 461, 480)]
_PYRAMID = [(960, 1400), (480, 800), (-1, 256)]


def image_sizes(data_root: str = 'data/scaleshapes') -> List[Tuple[int, int]]:
    """``(w, h)`` of every training image, from the annotation file (no image is read)."""
    with open(osp.join(data_root, 'annotations', 'train.json')) as f:
        return [(int(im['width']), int(im['height'])) for im in json.load(f)['images']]


def sample_mpix(arm: str, sizes: Sequence[Tuple[int, int]], chip_size: int = 256) -> float:
    """Megapixels of one training sample of ``arm``, averaged over images and the scales
    its resize draws from (uniformly): a whole resized image, or a ``chip_size`` chip."""
    from mmsniper.chips import scale_factor, scaled_image_size

    if arm.startswith('sniper'):
        return chip_size ** 2 / 1e6
    scales = {'single_scale': _SINGLE, 'jitter': _JITTER, 'pyramid': _PYRAMID,
              'snip': _PYRAMID}[arm]
    total = 0.0
    for wh in sizes:
        for sc in scales:
            sw, sh = scaled_image_size(wh, scale_factor(wh, sc))
            total += sw * sh
    return total / (len(sizes) * len(scales)) / 1e6


def calibrated_sec_per_iter(work_dir: str) -> float:
    """Mean logged seconds per iteration of a calibration run, first logging window out."""
    times = logged_iter_times(work_dir)
    if not times:
        raise RuntimeError(f'no logged iteration times under {work_dir}/*/vis_data')
    rest = [t for _, t in times[1:]] or [times[0][1]]
    return sum(rest) / len(rest)


def minutes_at(work_dir: str, iters: int, fixed_seconds: float = 0.0) -> float:
    """Training minutes up to iteration ``iters``: the logged iteration times summed (each
    record's mean times the iterations it covers), plus ``fixed_seconds``."""
    total, prev = 0.0, 0
    for it, t in logged_iter_times(work_dir):
        if it > iters:
            break
        total += (it - prev) * t
        prev = it
    return (total + fixed_seconds) / 60.0


def curve_iterations(iters: int, points: int) -> List[int]:
    """The checkpoints of a run: every ``ceil(iters / points)`` iterations, and the last."""
    step = max(1, math.ceil(iters / points))
    its = list(range(step, iters, step)) + [iters]
    return sorted(set(its))


def _test(checkpoint: str, work_dir: str, test: str, cfg_options: Sequence[str],
          echo: bool) -> Dict[str, Any]:
    config, tta, _ = TESTS[test]
    return evaluate(checkpoint, work_dir, tta, config, cfg_options=cfg_options, echo=echo)


def run_arm(name: str, out_dir: str, seed: int, budget_s: float, calib_iters: int,
            curve_points: int, rpn_iters: int, cfg_options: Sequence[str],
            iters: Optional[int] = None, final_tests: Sequence[str] = tuple(TESTS),
            echo: bool = True, arms: Optional[Dict[str, Arm]] = None,
            test_fn: Optional[Callable[..., Dict[str, Any]]] = None,
            curve_test: str = 'pyramid', rpn_config: str = RPN_CONFIG) -> Dict[str, Any]:
    """Steps 1-5 for one arm and seed (``iters``: skip the calibration, train this many).

    Other experiments reuse it with their own ``arms`` (name -> :class:`Arm`, default
    :data:`ARMS`), ``test_fn(checkpoint, work_dir, test, cfg_options, echo) -> dict`` with
    ``metrics`` (default: ``tools/test.py`` with :data:`TESTS`), the test of the curve's
    checkpoints (``curve_test``) and the negative chips' RPN config (``rpn_config``).
    """
    arm = (arms or ARMS)[name]
    test_fn = test_fn or _test
    arm_dir = osp.join(out_dir, f'{name}_seed{seed}')
    options = list(cfg_options)
    res: Dict[str, Any] = dict(arm=name, seed=seed, config=arm.config, fixed_seconds=0.0)
    if arm.negatives:  # the RPN and its proposals come out of this arm's budget
        neg = negative_proposals(osp.join(out_dir, f'rpn_seed{seed}'), rpn_iters, seed,
                                 options, echo=echo, config=rpn_config)
        rpn_logged = minutes_at(osp.join(out_dir, f'rpn_seed{seed}'), rpn_iters) * 60
        res['fixed_seconds'] = rpn_logged + neg['extract_seconds']
        res['rpn'] = dict(train_seconds_logged=rpn_logged,
                          extract_seconds=neg['extract_seconds'], commands=neg['commands'])
        options.append(f'sniper.proposals={neg["proposals"]}')
    config = repo_path(arm.config)
    if iters is None:
        # one checkpoint, at the end: saving is logged as iteration time
        cal = train(config, osp.join(arm_dir, 'calibrate'), calib_iters, seed,
                    options + [f'default_hooks.checkpoint.interval={calib_iters}'], echo=echo)
        res['sec_per_iter_calibrated'] = calibrated_sec_per_iter(osp.join(arm_dir, 'calibrate'))
        res['calibration_command'] = cal['command']
        iters = int((budget_s - res['fixed_seconds']) / res['sec_per_iter_calibrated'])
    res['clamped'] = iters < curve_points  # a budget too small for the curve
    iters = max(iters, curve_points, 1)
    res['iters'] = iters
    points = curve_iterations(iters, curve_points)
    ckpt_every = points[0] if len(points) > 1 else iters
    tr = train(config, osp.join(arm_dir, 'train'), iters, seed,
               options + [f'default_hooks.checkpoint.interval={ckpt_every}',
                          f'default_hooks.checkpoint.max_keep_ckpts={len(points) + 1}'],
               echo=echo)
    res.update(train_command=tr['command'], train_wall_seconds=tr['seconds'],
               sec_per_iter_logged=tr.get('sec_per_iter'))
    curve = []
    for it in points:
        ckpt = osp.join(arm_dir, 'train', f'iter_{it}.pth')
        r = test_fn(ckpt, osp.join(arm_dir, f'test_{curve_test}_iter{it}'), curve_test,
                    cfg_options, echo)
        curve.append(dict(iter=it, minutes=minutes_at(osp.join(arm_dir, 'train'), it,
                                                      res['fixed_seconds']),
                          metrics=r['metrics']))
    res['curve'] = curve
    res['minutes'] = curve[-1]['minutes']
    res['tests'] = {curve_test: test_fn(tr['checkpoint'],
                                        osp.join(arm_dir, f'test_{curve_test}_iter{iters}'),
                                        curve_test, cfg_options, echo)}
    for test in final_tests:
        if test != curve_test:
            res['tests'][test] = test_fn(tr['checkpoint'], osp.join(arm_dir, f'test_{test}'),
                                         test, cfg_options, echo)
    return res


def run_equal_compute(out_dir: str = 'work_dirs/equal_compute',
                      minutes: float = DEFAULT_MINUTES, arms: Optional[Sequence[str]] = None,
                      second_seed: Sequence[str] = SECOND_SEED_ARMS,
                      calib_iters: int = DEFAULT_CALIB_ITERS,
                      curve_points: int = DEFAULT_CURVE_POINTS,
                      rpn_iters: int = DEFAULT_RPN_ITERS, cfg_options: Sequence[str] = (),
                      data_root: str = 'data/scaleshapes',
                      echo: bool = True) -> Dict[str, Any]:
    """Every arm at ``minutes`` of training, tested alike; ``out_dir/results.*``. Resumable.

    Args:
        out_dir (str): one folder per arm and seed (``<arm>_seed<k>``), ``rpn_seed0``, and
            ``results.json``, ``results.md``, ``results.png``.
        minutes (float): training budget of every arm, minutes of logged iteration time.
        arms (Sequence[str], optional): keys of :data:`ARMS` (default: all, in order).
        second_seed (Sequence[str]): arms that also train with seed 1, same iterations.
        calib_iters (int): iterations of each arm's calibration run.
        curve_points (int): checkpoints per run tested for the AP-against-minutes curve.
        rpn_iters (int): the negative-chip RPN's iterations (charged to ``sniper_neg``).
        cfg_options (Sequence[str]): ``key=value`` overrides for every tool run.

    Returns:
        dict: the content of ``results.json``: ``runs`` (``<arm>_seed<k>`` ->
        :func:`run_arm`'s record), ``pixels``, ``minutes``, ``machine``, ``seconds``.
    """
    arms = list(ARMS) if arms is None else list(arms)
    bad = [a for a in [*arms, *second_seed] if a not in ARMS]
    if bad or not arms:
        raise ValueError(f'arms: expected names among {list(ARMS)}, got {arms + list(bad)}')
    if minutes <= 0 or calib_iters < 2 or curve_points < 1:
        raise ValueError(f'minutes > 0, calib_iters >= 2, curve_points >= 1 expected; got '
                         f'{minutes}, {calib_iters}, {curve_points}')
    t0 = time.perf_counter()
    os.makedirs(out_dir, exist_ok=True)
    path = osp.join(out_dir, 'results.json')
    prior = _read_json(path) if osp.isfile(path) else {}
    ensure_data(data_root)
    sizes = image_sizes(data_root)
    res: Dict[str, Any] = dict(minutes=minutes, calib_iters=calib_iters,
                               curve_points=curve_points, rpn_iters=rpn_iters,
                               machine=machine_description(), runs={},
                               pixels={a: sample_mpix(a, sizes) for a in ARMS})
    plan = [(a, 0) for a in arms] + [(a, 1) for a in arms if a in second_seed]
    for n, (name, seed) in enumerate(plan, 1):
        if echo:
            print(f'\n=== [{n}/{len(plan)}] {ARMS[name].title}, seed {seed} ===', flush=True)
        first = res['runs'].get(f'{name}_seed0')
        r = run_arm(name, out_dir, seed, minutes * 60, calib_iters, curve_points, rpn_iters,
                    cfg_options, iters=first['iters'] if seed and first else None,
                    final_tests=tuple(TESTS) if seed == 0 else (ARMS[name].natural_test,),
                    echo=echo)
        r['batch_size'] = _batch_size(repo_path(r['config']), cfg_options)
        r['train_mpix'] = res['pixels'][name] * r['batch_size'] * r['iters']
        res['runs'][f'{name}_seed{seed}'] = r
        # after every arm: partial results survive an interruption and can be read
        res['seconds'] = prior.get('seconds', 0.0) + time.perf_counter() - t0
        write_results(out_dir, res, results_markdown(res), plot_curves)
    return res


# -- reading the results ---------------------------------------------------------------------
def _f(v: Optional[float], fmt: str = '.1f') -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return '-'
    return 'n/a' if v < 0 else format(v, fmt)


def _ap(run: Dict[str, Any], test: str = 'pyramid', key: str = 'AP') -> float:
    t = run.get('tests', {}).get(test)
    return float(t['metrics'].get(key, float('nan'))) if t else float('nan')


def mean_over_seeds(res: Dict[str, Any], arm: str, test: str = 'pyramid',
                    key: str = 'AP') -> Tuple[float, List[float]]:
    """The mean of ``key`` over the arm's seeds, and the values."""
    vals = [_ap(r, test, key) for k, r in sorted(res['runs'].items()) if r['arm'] == arm]
    vals = [v for v in vals if not math.isnan(v)]
    return (sum(vals) / len(vals) if vals else float('nan')), vals


def minutes_to_reach(curve: Sequence[Dict[str, Any]], ap: float) -> Optional[float]:
    """Training minutes at which a curve first reaches ``ap`` (linear between checkpoints,
    from 0 AP at 0 minutes); None when it never does."""
    prev_m, prev_ap = 0.0, 0.0
    for p in curve:
        m, a = p['minutes'], p['metrics']['AP']
        if a >= ap:
            if a == prev_ap:
                return m
            return prev_m + (ap - prev_ap) / (a - prev_ap) * (m - prev_m)
        prev_m, prev_ap = m, a
    return None


def results_table(res: Dict[str, Any]) -> str:
    """One row per arm and seed: the common test's AP/APs/APm/APl, the arm's natural test,
    iterations, minutes, pixels."""
    rows = ['| arm | seed | AP | APs | APm | APl | natural test | its AP | iterations '
            '| train min | wall min | Mpx trained |', '|---' * 12 + '|']
    for key in _ordered(res):
        r = res['runs'][key]
        arm = ARMS[r['arm']]
        m = r['tests']['pyramid']['metrics']
        rows.append(f'| {arm.title} | {r["seed"]} | {_f(m.get("AP"))} | {_f(m.get("APs"))} | '
                    f'{_f(m.get("APm"))} | {_f(m.get("APl"))} | {TESTS[arm.natural_test][2]} | '
                    f'{_f(_ap(r, arm.natural_test))} | {r["iters"]} | {r["minutes"]:.1f} | '
                    f'{(r.get("train_wall_seconds") or 0) / 60 + r["fixed_seconds"] / 60:.1f} '
                    f'| {r["train_mpix"]:.0f} |')
    return '\n'.join(rows)


def inference_table(res: Dict[str, Any]) -> str:
    """Seed 0 of every arm tested three ways: AP, APs and seconds per image."""
    rows = ['| trained | ' + ' | '.join(f'{TESTS[t][2]}: AP / APs / s per img' for t in TESTS)
            + ' |', '|---|' + '---|' * len(TESTS)]
    for key in _ordered(res):
        r = res['runs'][key]
        if r['seed'] != 0:
            continue
        cells = []
        for t in TESTS:
            x = r['tests'].get(t)
            cells.append('-' if not x else f'{_f(x["metrics"].get("AP"))} / '
                         f'{_f(x["metrics"].get("APs"))} / {_f(x.get("sec_per_img"), ".2f")}')
        rows.append(f'| {ARMS[r["arm"]].title} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(rows)


def _seed_pairs(runs: Dict[str, Any], other: str) -> List[Tuple[int, dict, dict]]:
    """``(seed, SNIPER's run, other's run)`` for every seed both arms trained."""
    seeds = sorted({r['seed'] for r in runs.values()})
    return [(k, runs[f'sniper_seed{k}'], runs[f'{other}_seed{k}']) for k in seeds
            if f'sniper_seed{k}' in runs and f'{other}_seed{k}' in runs]


def _ordered(res: Dict[str, Any]) -> List[str]:
    return sorted(res['runs'], key=lambda k: (list(ARMS).index(res['runs'][k]['arm']),
                                              res['runs'][k]['seed']))


def claims(res: Dict[str, Any]) -> str:
    """The answers the issue asks for, in words, from the numbers (only for arms that ran)."""
    runs = res['runs']
    have = {r['arm'] for r in runs.values()}
    lines: List[str] = []
    if 'sniper' not in have:
        return ''
    sn, sn_vals = mean_over_seeds(res, 'sniper')
    seeds = f' (mean of {len(sn_vals)} seeds)' if len(sn_vals) > 1 else ''
    lines.append(f'- SNIPER, ranged pyramid: {sn:.1f} AP{seeds} after '
                 f'{res["minutes"]:g} training minutes.')
    for other, test in (('jitter', 'dettta'), ('jitter', 'pyramid'), ('single_scale', 'single'),
                        ('single_scale', 'pyramid'), ('snip', 'pyramid'), ('pyramid', 'pyramid')):
        if other not in have:
            continue
        o, vals = mean_over_seeds(res, other, test)
        mean = f', mean of {len(vals)} seeds' if len(vals) > 1 else ''
        # the seed-by-seed differences show the scatter a mean hides
        pairs = _seed_pairs(runs, other)
        per_seed = ('; per seed: ' + ', '.join(
            f'{_ap(s, "pyramid") - _ap(b, test):+.1f}' for _, s, b in pairs)) \
            if len(pairs) > 1 else ''
        lines.append(f'- at equal minutes, SNIPER - {ARMS[other].title} tested with '
                     f'{TESTS[test][2]}: {sn - o:+.1f} AP ({o:.1f}{mean}{per_seed}).')
    for other in ('jitter', 'snip', 'single_scale', 'pyramid'):
        for k, s, o in _seed_pairs(runs, other):
            target = o['curve'][-1]['metrics']['AP']
            m = minutes_to_reach(s['curve'], target)
            when = (f'after {m:.1f} of its {s["minutes"]:.1f} minutes ({m / o["minutes"]:.2f}x '
                    f'the {o["minutes"]:.1f} minutes {ARMS[other].title} trained)'
                    if m is not None else 'not within its budget')
            lines.append(f'- at equal AP (seed {k}, ranged pyramid): SNIPER reached '
                         f'{ARMS[other].title}\'s final {target:.1f} AP {when}.')
    if 'snip' in have:
        ratio = res['pixels']['sniper'] * runs['sniper_seed0']['batch_size'] / (
            res['pixels']['snip'] * runs['snip_seed0']['batch_size']) \
            if 'sniper_seed0' in runs and 'snip_seed0' in runs else None
        sp, _ = mean_over_seeds(res, 'snip')
        verdict = 'matches' if abs(sn - sp) <= 1.0 else ('beats' if sn > sp else 'falls short of')
        lines.append(f'- "SNIPER matches SNIP at a fraction of its cost": at equal compute SNIPER '
                     f'{verdict} SNIP ({sn - sp:+.1f} AP)' + (
                         f'; a SNIPER batch is {ratio:.2f}x the pixels of a SNIP batch'
                         if ratio else '') + '.')
    return '\n'.join(lines)


def results_markdown(res: Dict[str, Any]) -> str:
    """``results.md``: the table, the inference table, the claims."""
    return (f'Budget: {res["minutes"]:g} training minutes per arm (calibrated seconds per '
            f'iteration); every arm tested with SNIPER\'s ranged pyramid.\n\n'
            + results_table(res) + '\n\nThe same checkpoints (seed 0) tested three ways:\n\n'
            + inference_table(res) + '\n\n' + claims(res))


def arm_colours(arms: Sequence[str]) -> Dict[str, Any]:
    """One distinct colour per arm, in the arms' order, for any number of arms: the first
    eight as the ScaleShapes plots always drew them, then matplotlib's ``tab20``."""
    import matplotlib

    first = ('#888888', '#2ca02c', '#1f77b4', '#9467bd', '#d62728', '#ff7f0e', '#8c564b',
             '#e377c2')
    more = [matplotlib.colormaps['tab20'](i) for i in range(1, 20, 2)]
    palette = list(first) + more
    if len(arms) > len(palette):
        raise ValueError(f'at most {len(palette)} arms in one plot; got {len(arms)}')
    return dict(zip(arms, palette))


def plot_curves(res: Dict[str, Any], path: str, arms: Optional[Dict[str, Arm]] = None,
                ylabel: str = 'COCO AP (%), SNIPER ranged pyramid',
                title: Optional[str] = None, xlabel: str = 'training minutes (2 CPU cores)'
                ) -> str:
    """PNG: AP (ranged pyramid) against training minutes, every arm; later seeds dashed.
    Other experiments pass their ``arms`` (name -> :class:`Arm`), labels and title."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    arms = arms or ARMS
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = arm_colours(arms)
    first = min(r['seed'] for r in res['runs'].values()) if res['runs'] else 0
    for key in sorted(res['runs'], key=lambda k: (list(arms).index(res['runs'][k]['arm']),
                                                  res['runs'][k]['seed'])):
        r = res['runs'][key]
        xs = [0.0] + [p['minutes'] for p in r['curve']]
        ys = [0.0] + [max(p['metrics']['AP'], 0.0) for p in r['curve']]
        ax.plot(xs, ys, 'o-' if r['seed'] == first else 's--', color=colours[r['arm']],
                label=f'{arms[r["arm"]].title}'
                + (f' (seed {r["seed"]})' if r['seed'] != first else ''))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title or f'ScaleShapes, light MobileNetV2 Faster R-CNN, {res["minutes"]:g} '
                 'min per arm')
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
