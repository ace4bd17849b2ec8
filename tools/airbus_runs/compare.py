"""SNIPER against what users run for small objects, on real satellite images (issue #29).

Driver of ``tools/analysis_tools/airbus_compare.py`` (docs/user_guides/airbus_aircraft.md,
docs/reports/airbus_aircraft.md), built on the ScaleShapes equal-compute experiment's
machinery (:mod:`scaleshapes_runs.equal_compute`, :mod:`scaleshapes_runs.experiment`):
every arm trains the same light ImageNet MobileNetV2 Faster R-CNN on the Airbus Aircraft
training split for the same calibrated training minutes:

1. data: ``data/airbus_aircraft`` converted from the shared folder when missing; SAHI's
   training slices (``sahi.slicing.slice_coco``) cut once;
2. calibrate each arm (``calib_iters`` iterations), train ``(budget - fixed costs) / s per
   iteration`` iterations (SNIPER with negatives pays its RPN and proposals from its budget),
   a checkpoint at every ``1 / curve_points`` of the run, each tested with the arm's own
   test way: AP against training minutes;
3. every final model of the first seed tested every way that applies (:data:`TESTS`), with
   AP, AP50, AP75 and AP in size bands at ORIGINAL resolution
   (:func:`mmsniper.analysis.size_bands.coco_ap_by_size`), seconds per image and the peak
   resident memory of the test's process;
4. more seeds (``seeds[1:]``) for SNIPER, SAHI and the better MMDetection arm of the first
   seed, same iterations, their own test way;
5. ``OUT/results.{json,md,png}`` (tables, the issue's goals checked per seed, AP against
   minutes) and ``OUT/pictures/`` (ground truth | SNIPER | SAHI on validation images).

Resumable across sessions: every calibration, training (resumed from its last checkpoint),
test, the slices and the RPN step are kept under ``OUT/`` and skipped when done.
"""
from __future__ import annotations

import os
import os.path as osp
import sys
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from scaleshapes_runs import equal_compute as ec
from scaleshapes_runs.equal_compute import Arm, _ap, _f
from scaleshapes_runs.experiment import (
    _batch_size,
    _read_json,
    _write_json,
    format_cmd,
    machine_description,
    median_test_sec_per_img,
    repo_path,
    run_logged,
    tool_cmd,
    write_results,
)

from .sahi_arm import prepare_slices


@dataclass(frozen=True)
class Test:
    """A way of testing: ``kind`` ``'tool'`` (``tools/test.py config [--tta]``) or
    ``'sahi'`` (:func:`airbus_runs.sahi_arm.sliced_predictions` with ``config``);
    ``focus``: needs a model with the FocusPixel branch; ``mpx``: rough megapixels one
    2560 x 2560 image costs (the dry run's estimate only)."""

    config: str
    tta: bool
    title: str
    kind: str = 'tool'
    focus: bool = False
    mpx: float = 0.0


_CFG = 'configs/airbus/'
ARMS: Dict[str, Arm] = {
    'single_scale_880': Arm(_CFG + 'faster_mnv2_airbus_880.py', 'single-scale (880)',
                            'single_880'),
    'single_scale_1375': Arm(_CFG + 'faster_mnv2_airbus_1375.py', 'single-scale (1375)',
                             'single_1375'),
    'single_scale_1100': Arm(_CFG + 'faster_mnv2_airbus_1100.py', 'single-scale (1100)',
                             'single_1100'),
    'jitter_880': Arm(_CFG + 'jitter_faster_mnv2_airbus_880.py',
                      'MMDetection multi-scale jitter (704-880)', 'dettta_880'),
    'jitter_1100': Arm(_CFG + 'jitter_faster_mnv2_airbus_1100.py',
                       'MMDetection multi-scale jitter (880-1100)', 'dettta_1100'),
    'single_scale': Arm(_CFG + 'faster_mnv2_airbus.py', 'single-scale (2048)', 'single'),
    'jitter': Arm(_CFG + 'jitter_faster_mnv2_airbus.py',
                  'MMDetection multi-scale jitter (1638-2048)', 'dettta'),
    'sahi': Arm(_CFG + 'sahi_faster_mnv2_airbus.py', 'SAHI slice fine-tuning', 'sahi'),
    'sniper': Arm(_CFG + 'sniper_faster_mnv2_airbus.py', 'SNIPER chips', 'pyramid'),
    'sniper_neg': Arm(_CFG + 'sniper_faster_mnv2_airbus_neg.py', 'SNIPER + negative chips',
                      'pyramid', negatives=True),
    'sniper_partial': Arm(_CFG + 'sniper_faster_mnv2_airbus_partial.py',
                          'SNIPER chips, partial aircraft trained (min_visible 0.1)', 'pyramid'),
    'autofocus': Arm(_CFG + 'autofocus_faster_mnv2_airbus.py',
                     'AutoFocus (SNIPER chips + focus branch)', 'autofocus'),
}
#: The MMDetection arms in pairs (single-scale, jitter) by training size: the 880 pair is what
#: the 10-minute budget trains (the rule in faster_mnv2_airbus_880.py), the 1100 pair what the
#: 25-minute budget trains, the 2048 pair what neither does (at 2048 one iteration costs about
#: 31 s: 1 epoch in 10 minutes).
MMDET_PAIRS = (('single_scale_880', 'jitter_880'), ('single_scale_1100', 'jitter_1100'),
               ('single_scale', 'jitter'))
#: The single-scale arms, each at one size (the size rule's "4 epochs" is checked on them).
SINGLE_SCALE_ARMS = ('single_scale_880', 'single_scale_1100', 'single_scale_1375', 'single_scale')
#: The arms trained on whole images (their epochs are passes over the training images).
WHOLE_IMAGE_ARMS = SINGLE_SCALE_ARMS + ('jitter_880', 'jitter_1100', 'jitter')
#: The arms run by default, in running order.
DEFAULT_ARMS = ('sahi', 'sniper', 'autofocus', 'single_scale_880', 'jitter_880', 'sniper_neg')
#: Every model loads into every config (one architecture; the focus branch's weights are
#: left out where the config has none).
TESTS: Dict[str, Test] = {
    'single': Test(_CFG + 'faster_mnv2_airbus.py', False, 'single scale (2048)', mpx=4.2),
    'single_880': Test(_CFG + 'faster_mnv2_airbus_880.py', False, 'single scale (880)',
                       mpx=0.8),
    'single_1375': Test(_CFG + 'faster_mnv2_airbus_1375.py', False, 'single scale (1375)',
                        mpx=1.9),
    'single_1100': Test(_CFG + 'faster_mnv2_airbus_1100.py', False, 'single scale (1100)',
                        mpx=1.2),
    'dettta': Test(_CFG + 'jitter_faster_mnv2_airbus.py', True,
                   'MMDetection DetTTAModel (2048 / 1024 / 3072 x flip)', mpx=29.4),
    'dettta_880': Test(_CFG + 'jitter_faster_mnv2_airbus_880.py', True,
                       'MMDetection DetTTAModel (880 / 440 / 1320 x flip)', mpx=5.4),
    'dettta_1100': Test(_CFG + 'jitter_faster_mnv2_airbus_1100.py', True,
                        'MMDetection DetTTAModel (1100 / 550 / 1650 x flip)', mpx=8.5),
    'pyramid': Test(_CFG + 'sniper_faster_mnv2_airbus.py', True, 'SNIPER ranged pyramid',
                    mpx=1.9),
    'autofocus': Test(_CFG + 'autofocus_faster_mnv2_airbus.py', True, 'AutoFocus',
                      focus=True, mpx=1.5),
    'sahi': Test(_CFG + 'sahi_faster_mnv2_airbus.py', False,
                 'SAHI sliced prediction (get_sliced_prediction)', kind='sahi', mpx=9.7),
}
#: Test ways run by default on the first seed's final models: all but the 2048 DetTTAModel
#: (about 30 Mpx per image: 12-14 minutes per model on 2 CPU cores, the Airbus report) and
#: the 1100 and 1375 ones (the 25-minute budget's sizes); ask for them with --tests.
DEFAULT_TESTS = tuple(t for t in TESTS
                      if t not in ('dettta', 'single_1375', 'single_1100', 'dettta_1100'))
RPN_CONFIG = _CFG + 'sniper_rpn_mnv2_airbus.py'
#: Arms trained with every seed (those asked for); 'mmdet_best' is the better of the
#: MMDetection arms run (see :func:`_mmdet_candidates`; their own test ways' AP in the first
#: seed).
MULTI_SEED_ARMS = ('sniper', 'sniper_partial', 'sahi', 'autofocus', 'mmdet_best')
DEFAULT_MINUTES = 10.0
DEFAULT_SEEDS = (0, 1)
DEFAULT_CALIB_ITERS = 20
DEFAULT_CURVE_POINTS = 4
DEFAULT_RPN_ITERS = 100
DATA_ROOT = 'data/airbus_aircraft'
DEFAULT_SOURCE = '../shared/data/airbus-aircraft'
#: Rough costs for ``--dry-run`` only (assumptions, not measurements): training seconds per
#: iteration of each arm, inference seconds per megapixel, seconds to start a tool.
EST_SEC_PER_ITER = dict(single_scale_880=2.6, single_scale_1100=4.2, single_scale_1375=11.9,
                        jitter_880=2.3, jitter_1100=3.6, single_scale=31.0, jitter=28.0,
                        sahi=4.2, sniper=3.6, sniper_neg=3.6, sniper_partial=3.6, autofocus=4.5)
EST_SEC_PER_MPX = 0.6
EST_STARTUP_S = 20.0


# -- data ------------------------------------------------------------------------------------
def ensure_airbus_data(data_root: str = DATA_ROOT, source: str = DEFAULT_SOURCE,
                       echo: bool = True) -> str:
    """``data_root`` with ``annotations/{train,val}.json``, converted from ``source`` (the
    shared Airbus Aircraft folder) when missing; a converted folder is used as it is."""
    if all(osp.isfile(osp.join(data_root, 'annotations', f'{s}.json')) for s in ('train', 'val')):
        return data_root
    if not osp.isfile(osp.join(source, 'annotations.csv')):
        raise FileNotFoundError(
            f'{data_root}/annotations/{{train,val}}.json are missing and {source}/annotations.csv'
            ' does not exist: give the Airbus Aircraft folder with --source (read its '
            'SOURCE.md) or convert it first with tools/dataset_converters/airbus_aircraft.py')
    from mmsniper.annotations.airbus_aircraft import convert_airbus_aircraft

    if echo:
        print(f'converting {source} -> {data_root} ...', flush=True)
    convert_airbus_aircraft(source, data_root)
    return data_root


def holdout_split(train_ann: str, num: int, out_dir: str) -> Tuple[str, str]:
    """Split the training split for choices made by looking at results (never on the
    validation split): ``num`` images spread evenly over the image ids are held out.

    Writes ``out_dir/train_fit.json`` (the rest) and ``out_dir/train_holdout.json``; every
    box of ``train_ann`` lands in exactly one of them.

    Returns:
        tuple: absolute paths ``(fit, holdout)``.

    Raises:
        ValueError: ``num`` not in ``[1, images - 1]``.
    """
    coco = _read_json(train_ann)
    images = sorted(coco['images'], key=lambda im: im['id'])
    if not 1 <= num < len(images):
        raise ValueError(f'--holdout: expected 1 to {len(images) - 1} images of {train_ann} '
                         f'held out, got {num}')
    picks = {int(round(i * (len(images) - 1) / max(num - 1, 1))) for i in range(num)}
    held = {images[i]['id'] for i in picks}
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name, keep in (('train_fit', lambda i: i not in held),
                       ('train_holdout', held.__contains__)):
        path = osp.abspath(osp.join(out_dir, f'{name}.json'))
        _write_json(path, dict(coco, images=[im for im in images if keep(im['id'])],
                               annotations=[a for a in coco['annotations']
                                            if keep(a['image_id'])]))
        paths.append(path)
    return paths[0], paths[1]


def train_ann_option(arm: str, ann_file: str) -> str:
    """The ``--cfg-options`` item that makes ``arm`` train on ``ann_file`` (SNIPER's
    dataset wraps the COCO one); SAHI trains on its slices and cannot."""
    from mmengine import Config

    if arm == 'sahi':
        raise ValueError('--holdout: the sahi arm trains on slices of the whole training split; '
                         'leave it out of --arms')
    ds = Config.fromfile(repo_path(ARMS[arm].config)).train_dataloader.dataset
    key = 'dataset.dataset' if ds.type == 'SniperDataset' else 'dataset'
    return f'train_dataloader.{key}.ann_file={ann_file}'


# -- tests -----------------------------------------------------------------------------------
def _peak(cmd: List[str], record: str) -> List[str]:
    return [sys.executable, repo_path('tools/airbus_runs/peak_rss.py'), record, '--', *cmd]


def run_test(checkpoint: str, work_dir: str, test: str, data_root: str = DATA_ROOT,
             cfg_options: Sequence[str] = (), echo: bool = True,
             val_ann: Optional[str] = None, sahi_args: Sequence[str] = ()) -> Dict[str, Any]:
    """One test way of one checkpoint on the validation split (or ``val_ann``, a COCO file
    of some of its images); cached in ``work_dir/metrics.json`` (a finished test is not run
    again). ``sahi_args``: options of ``tools/airbus_runs/sahi_predict.py`` for the SAHI
    test way (:data:`SAHI_VARIANTS`).

    Returns:
        dict: ``metrics`` (:func:`~mmsniper.analysis.size_bands.coco_ap_by_size`: AP, AP50,
        AP75, AP per band), ``sec_per_img`` (median seconds per 2560 x 2560 image),
        ``peak_rss_mb`` (the test process's peak resident memory), ``seconds``,
        ``command``, ``detections`` (path of the COCO results).
    """
    from mmsniper.analysis.size_bands import coco_ap_by_size

    cache = osp.join(work_dir, 'metrics.json')
    if osp.isfile(cache):
        return _read_json(cache)
    t = TESTS[test]
    os.makedirs(work_dir, exist_ok=True)
    gt = val_ann or osp.join(data_root, 'annotations', 'val.json')
    log, peak = osp.join(work_dir, 'test.out'), osp.join(work_dir, 'peak_rss.json')
    if t.kind == 'sahi':
        dets = osp.join(work_dir, 'detections.bbox.json')
        cmd = [sys.executable, repo_path('tools/airbus_runs/sahi_predict.py'),
               repo_path(t.config), checkpoint, gt, osp.join(data_root, 'images'), dets,
               *sahi_args]
    else:
        dets = osp.join(work_dir, 'detections.bbox.json')
        cmd = tool_cmd('test.py', repo_path(t.config), checkpoint, '--work-dir', work_dir)
        if t.tta:
            cmd.append('--tta')
        cmd += ['--cfg-options', f'test_evaluator.outfile_prefix={work_dir}/detections',
                *([f'test_dataloader.dataset.ann_file={osp.abspath(gt)}',
                   f'test_evaluator.ann_file={osp.abspath(gt)}'] if val_ann else []),
                *cfg_options]
    secs = run_logged(_peak(cmd, peak), log, echo)
    if t.kind == 'sahi':
        sec_per_img = _read_json(dets + '.timing.json')['sec_per_img']
    else:
        sec_per_img = median_test_sec_per_img(log)
    out = dict(metrics=coco_ap_by_size(gt, dets), sec_per_img=sec_per_img,
               peak_rss_mb=_read_json(peak)['peak_rss_mb'], seconds=secs,
               command=format_cmd(cmd), detections=dets)
    _write_json(cache, out)
    return out


#: SAHI's sliced prediction with one setting changed at a time (``--sahi-variants``): with
#: the comparison's score threshold 0.01, sahi 0.12.8 replaces its GREEDYNMM / IOS merger by
#: NMS / IOU on its own (below 0.1, "to avoid bounding box enlargement").
SAHI_VARIANTS: Dict[str, Tuple[str, List[str]]] = {
    'greedynmm_forced': ('GREEDYNMM / IOS 0.5 kept at score 0.01 (force_postprocess_type)',
                         ['--force-postprocess-type']),
    'sahi_defaults': ('every SAHI default: score 0.3, GREEDYNMM / IOS 0.5', ['--score-thr', '0.3']),
    'no_standard_pred': ('without the whole-image prediction (NMS / IOU 0.5, score 0.01)',
                         ['--no-standard-pred']),
}


def sahi_variants(res: Dict[str, Any], out_dir: str, data_root: str = DATA_ROOT,
                  echo: bool = True, val_ann: Optional[str] = None,
                  arms: Sequence[str] = ('sahi',)) -> str:
    """:data:`SAHI_VARIANTS` on the first seed's models of ``arms`` (cached like every
    test); returns a markdown table, also written to ``OUT/sahi_variants.md``."""
    from mmsniper.utils.fileio import atomic_write

    s0 = res['seeds'][0]
    rows = ['| model | SAHI test | AP | AP50 | AP75 | s / image |', '|---' * 6 + '|']

    def row(arm: str, title: str, t: Dict[str, Any]) -> str:
        m = t['metrics']
        return (f'| {ARMS[arm].title} | {title} | {_f(m["AP"])} | {_f(m["AP50"])} | '
                f'{_f(m["AP75"])} | {_f(t["sec_per_img"], ".2f")} |')

    for arm in arms:
        run = res['runs'].get(f'{arm}_seed{s0}')
        if not run:
            continue
        ckpt = osp.join(out_dir, f'{arm}_seed{s0}', 'train', f'iter_{run["iters"]}.pth')
        if 'sahi' in run['tests']:
            rows.append(row(arm, 'as run (score 0.01: sahi switched to NMS / IOU 0.5)',
                            run['tests']['sahi']))
        for name, (title, args) in SAHI_VARIANTS.items():
            rows.append(row(arm, title, run_test(
                ckpt, osp.join(out_dir, f'{arm}_seed{s0}', f'test_sahi_{name}'), 'sahi',
                data_root, echo=echo, val_ann=val_ann, sahi_args=args)))
    table = '\n'.join(rows)
    atomic_write(osp.join(out_dir, 'sahi_variants.md'), table + '\n')
    return table


def applicable_tests(arm: str, tests: Sequence[str] = tuple(TESTS)) -> List[str]:
    """The test ways that apply to an arm's model (AutoFocus only with the focus branch)."""
    return [t for t in tests if not TESTS[t].focus or ARMS[arm].config == TESTS[t].config]


# -- training --------------------------------------------------------------------------------
def run_arm(name: str, out_dir: str, seed: int, budget_s: float, calib_iters: int,
            curve_points: int, rpn_iters: int, data_root: str, cfg_options: Sequence[str],
            iters: Optional[int] = None, final_tests: Sequence[str] = (),
            echo: bool = True, val_ann: Optional[str] = None,
            train_options: Sequence[str] = ()) -> Dict[str, Any]:
    """Calibrate (unless ``iters``), train, test the curve's checkpoints with the arm's own
    test way and the final model with ``final_tests`` (those that apply), for one arm and
    seed: :func:`scaleshapes_runs.equal_compute.run_arm` with this experiment's arms, tests
    (:func:`run_test`) and RPN. ``train_options``: ``--cfg-options`` of the training runs
    only (:func:`train_ann_option`), kept from the tests."""
    def test_fn(checkpoint: str, work_dir: str, test: str, options: Sequence[str],
                echo: bool) -> Dict[str, Any]:
        return run_test(checkpoint, work_dir, test, data_root,
                        [o for o in options if o not in train_options], echo, val_ann)

    res = ec.run_arm(name, out_dir, seed, budget_s, calib_iters, curve_points, rpn_iters,
                     [*cfg_options, *train_options], iters=iters,
                     final_tests=applicable_tests(name, final_tests),
                     echo=echo, arms=ARMS, test_fn=test_fn, curve_test=ARMS[name].natural_test,
                     rpn_config=RPN_CONFIG)
    res['batch_size'] = _batch_size(repo_path(res['config']), cfg_options)
    return res


def _mmdet_candidates(arms: Sequence[str]) -> Tuple[str, ...]:
    """The MMDetection arms among ``arms`` that compete for the later seeds: the first of
    :data:`MMDET_PAIRS` whose two arms are both asked for, else every whole-image arm asked
    for (one alone, as ``single_scale_1100`` at 25 minutes, is the best by default); () for
    none."""
    pair = next((p for p in MMDET_PAIRS if set(p) <= set(arms)), None)
    return pair or tuple(a for a in arms if a in WHOLE_IMAGE_ARMS)


def _mmdet_best(runs: Dict[str, Any], seed: int,
                arms: Sequence[str] = MMDET_PAIRS[0]) -> Optional[str]:
    """The arm of :func:`_mmdet_candidates` of ``arms`` with the highest AP in its own test
    way in ``seed``; None until every candidate ran."""
    cands = _mmdet_candidates(arms)
    aps = {a: _ap(runs[f'{a}_seed{seed}'], ARMS[a].natural_test)
           for a in cands if f'{a}_seed{seed}' in runs}
    return max(aps, key=aps.get) if cands and len(aps) == len(cands) else None


def plan_runs(arms: Sequence[str], seeds: Sequence[int]) -> List[Tuple[str, int]]:
    """``(arm, seed)`` in running order: every arm with ``seeds[0]``, then the multi-seed arms
    (``'mmdet_best'`` resolved once the first seed's MMDetection arms are done)."""
    plan = [(a, seeds[0]) for a in arms]
    for s in seeds[1:]:
        plan += [(a, s) for a in MULTI_SEED_ARMS if a in arms or (
            a == 'mmdet_best' and _mmdet_candidates(arms))]
    return plan


def estimate(arms: Sequence[str], seeds: Sequence[int], minutes: float, calib_iters: int,
             curve_points: int, val_images: int = 25,
             tests: Sequence[str] = DEFAULT_TESTS) -> Dict[str, Any]:
    """Rough machine time of a run (``--dry-run``), from :data:`EST_SEC_PER_ITER`,
    :data:`EST_SEC_PER_MPX` and :data:`EST_STARTUP_S`: assumptions, not measurements.

    Returns:
        dict: ``steps`` (list of ``(what, minutes)``) and ``total_minutes``.
    """
    steps = []

    def test_min(test: str) -> float:
        return (EST_STARTUP_S + val_images * TESTS[test].mpx * EST_SEC_PER_MPX) / 60

    for arm, seed in plan_runs(arms, seeds):
        # mmdet_best: the costliest of its candidates
        real = (max(_mmdet_candidates(arms), key=EST_SEC_PER_ITER.get) if arm == 'mmdet_best'
                else arm)
        t = ARMS[real]
        first = seed == seeds[0]
        cal = (calib_iters * EST_SEC_PER_ITER[real] + EST_STARTUP_S) / 60 if first else 0.0
        ways = {t.natural_test, *(applicable_tests(real, tests) if first else ())}
        test = (curve_points - 1) * test_min(t.natural_test) + sum(map(test_min, ways))
        steps.append((f'{arm} seed {seed}: calibration {cal:.0f} + training {minutes:g} + '
                      f'{curve_points - 1 + len(ways)} tests {test:.0f} min',
                      cal + minutes + test))
    total = sum(m for _, m in steps) + (10.0 if 'sahi' in arms else 0.0)  # slicing, rough
    return dict(steps=steps, total_minutes=total)


def run_compare(out_dir: str = 'work_dirs/airbus_compare', minutes: float = DEFAULT_MINUTES,
                arms: Optional[Sequence[str]] = None, seeds: Sequence[int] = DEFAULT_SEEDS,
                calib_iters: int = DEFAULT_CALIB_ITERS,
                curve_points: int = DEFAULT_CURVE_POINTS, rpn_iters: int = DEFAULT_RPN_ITERS,
                data_root: str = DATA_ROOT, source: str = DEFAULT_SOURCE,
                cfg_options: Sequence[str] = (), pictures: int = 4,
                val_images: Optional[int] = None, tests: Optional[Sequence[str]] = None,
                iters: Optional[int] = None, holdout: Optional[int] = None,
                echo: bool = True) -> Dict[str, Any]:
    """Every arm for ``minutes`` calibrated training minutes, every test way; resumable.

    Args:
        out_dir (str): ``<arm>_seed<k>/`` per run, ``rpn_seed<k>/``, ``results.{json,md,png}``,
            ``pictures/``. Its results keep the runs of earlier calls that this one does not
            name (a later call may add arms or seeds, or run fewer).
        minutes (float): training budget of every arm (logged iteration time).
        arms (Sequence[str], optional): keys of :data:`ARMS` (default all).
        seeds (Sequence[int]): the first trains every arm; the others :data:`MULTI_SEED_ARMS`.
        calib_iters, curve_points, rpn_iters (int): as in ``equal_compute.py``.
        data_root (str): the converted data (relative to the working directory, as the
            configs expect); converted from ``source`` when missing.
        cfg_options (Sequence[str]): ``key=value`` overrides for every tool run.
        pictures (int): validation images drawn as ground truth | SNIPER | SAHI.
        val_images (int, optional): test on the first this many validation images only
            (smoke runs and tests; its numbers are not the comparison's). An output
            directory keeps the value it was started with.
        tests (Sequence[str], optional): keys of :data:`TESTS` run on the first seed's
            final models (default all; each arm's own test way always runs). A later call
            with more adds the missing tests to the finished models.
        iters (int, optional): train every arm this many iterations, no calibration (an
            equal-iterations control; the minutes are then what they cost).
        holdout (int, optional): train on the training split less ``holdout`` images
            (:func:`holdout_split`) and test on those: for choices made by looking at results,
            never on the validation split. Not with the SAHI arm.

    Returns:
        dict: the content of ``results.json``: ``runs`` (``<arm>_seed<k>`` -> record),
        ``minutes``, ``seeds``, ``machine``, ``seconds``, ``slices``.
    """
    arms = list(DEFAULT_ARMS) if arms is None else list(arms)
    bad = [a for a in arms if a not in ARMS]
    if bad or not arms:
        raise ValueError(f'arms: expected names among {list(ARMS)}, got {arms}')
    tests = DEFAULT_TESTS if tests is None else tuple(tests)
    if not set(tests) <= set(TESTS):
        raise ValueError(f'tests: expected names among {list(TESTS)}, got {list(tests)}')
    if minutes <= 0 or calib_iters < 2 or curve_points < 1 or not seeds:
        raise ValueError(f'minutes > 0, calib_iters >= 2, curve_points >= 1 and a seed '
                         f'expected; got {minutes}, {calib_iters}, {curve_points}, {seeds}')
    t0 = time.perf_counter()
    os.makedirs(out_dir, exist_ok=True)
    path = osp.join(out_dir, 'results.json')
    prior = _read_json(path) if osp.isfile(path) else {}
    for key, value in (('minutes', minutes), ('val_images', val_images), ('holdout', holdout),
                       ('iters', iters)):
        if prior and prior.get(key) != value:
            raise ValueError(f'{out_dir} was run with {key}={prior.get(key)}, now {value}: '
                             'its finished runs would mix; use another --out')
    ensure_airbus_data(data_root, source, echo)
    val_ann, fit_ann = None, None
    if holdout:
        if val_images:
            raise ValueError('--holdout tests on the held-out training images; '
                             '--val-images does not apply')
        fit_ann, val_ann = holdout_split(osp.join(data_root, 'annotations', 'train.json'),
                                         holdout, out_dir)
        [train_ann_option(a, fit_ann) for a in arms]  # refuse SAHI before anything runs
    if val_images:
        val = _read_json(osp.join(data_root, 'annotations', 'val.json'))
        keep = {im['id'] for im in val['images'][:val_images]}
        val_ann = osp.abspath(osp.join(out_dir, f'val_first{val_images}.json'))
        _write_json(val_ann, dict(val, images=val['images'][:val_images],
                                  annotations=[a for a in val['annotations']
                                               if a['image_id'] in keep]))
    # the folder's record starts from what earlier calls left: runs this plan does not name
    # (other arms or seeds), SAHI's slices (a kept SAHI run's epochs count them), the
    # pictures; this call's settings, and its runs once read back or run, replace theirs
    res: Dict[str, Any] = dict(prior, runs=dict(prior.get('runs', {})))
    res.update(minutes=minutes, seeds=list(seeds), calib_iters=calib_iters,
               curve_points=curve_points, rpn_iters=rpn_iters, val_images=val_images,
               holdout=holdout, iters=iters, machine=machine_description(),
               test_ann=val_ann or osp.join(data_root, 'annotations', 'val.json'))
    res['train_images'] = len(_read_json(fit_ann or osp.join(data_root, 'annotations',
                                                             'train.json'))['images'])
    if 'sahi' in arms:
        res['slices'] = prepare_slices(data_root, echo)
    # every iteration logged: a short calibration has iteration times to read, and a test
    # its median seconds per image from every image (iterations here last seconds)
    cfg_options = ['default_hooks.logger.interval=1', *cfg_options]
    plan = plan_runs(arms, seeds)
    for n, (name, seed) in enumerate(plan, 1):
        if name == 'mmdet_best':
            name = _mmdet_best(res['runs'], seeds[0], arms)
            if name is None:  # the first seed did not run every MMDetection candidate
                continue
        if echo:
            print(f'\n=== [{n}/{len(plan)}] {ARMS[name].title}, seed {seed} ===', flush=True)
        first = res['runs'].get(f'{name}_seed{seeds[0]}')
        r = run_arm(name, out_dir, seed, minutes * 60, calib_iters, curve_points, rpn_iters,
                    data_root, cfg_options,
                    train_options=[train_ann_option(name, fit_ann)] if fit_ann else (),
                    iters=iters or (first['iters'] if seed != seeds[0] and first else None),
                    final_tests=tests if seed == seeds[0] else (), echo=echo,
                    val_ann=val_ann)
        res['runs'][f'{name}_seed{seed}'] = r
        res['seconds'] = prior.get('seconds', 0.0) + time.perf_counter() - t0
        write_results(out_dir, res, results_markdown(res), plot_curves)
    if pictures:
        res['pictures'] = draw_pictures(res, out_dir, data_root, pictures, val_ann)
    res['seconds'] = prior.get('seconds', 0.0) + time.perf_counter() - t0
    write_results(out_dir, res, results_markdown(res), plot_curves)
    return res


# -- reading the results ---------------------------------------------------------------------
def merge_results(out_dirs: Sequence[str]) -> Dict[str, Any]:
    """Several output folders' ``results.json`` as one, for one table or plot of runs made
    by separate calls: the first folder's settings, every folder's runs, and the SAHI slice
    record (its epochs) from whichever folder made slices. A run key (``<arm>_seed<k>``)
    in two folders is two different models: ValueError, naming both folders."""
    res: Dict[str, Any] = {}
    owner: Dict[str, str] = {}
    for out_dir in out_dirs:
        r = _read_json(osp.join(out_dir, 'results.json'))
        res = res or dict(r, runs={})
        res['slices'] = res.get('slices') or r.get('slices')
        for key, run in r['runs'].items():
            if key in owner:
                raise ValueError(f'{key} is in both {owner[key]} and {out_dir}: merge '
                                 'folders with different runs')
            owner[key] = out_dir
            res['runs'][key] = run
    if not res:
        raise ValueError('merge_results: expected at least one output folder, got none')
    return res


def _ordered(res: Dict[str, Any]) -> List[str]:
    return sorted(res['runs'], key=lambda k: (list(ARMS).index(res['runs'][k]['arm']),
                                              res['runs'][k]['seed']))


def _bands(res: Dict[str, Any]) -> List[str]:
    for r in res['runs'].values():
        for t in r['tests'].values():
            return [k for k in t['metrics'] if k.startswith('AP_')]
    return []


def results_table(res: Dict[str, Any]) -> str:
    """One row per run: its own test way's AP, iterations, minutes."""
    rows = ['| arm | seed | own test | AP | AP50 | AP75 | iterations (s / it) | epochs '
            '| train min | wall min |', '|---' * 10 + '|']
    for key in _ordered(res):
        r = res['runs'][key]
        arm = ARMS[r['arm']]
        m = r['tests'][arm.natural_test]['metrics']
        cal = r.get('sec_per_iter_calibrated')
        rows.append(f'| {arm.title} | {r["seed"]} | {TESTS[arm.natural_test].title} | '
                    f'{_f(m["AP"])} | {_f(m["AP50"])} | {_f(m["AP75"])} | {r["iters"]}'
                    + (f' ({cal:.2f})' if cal else '') + f' | {_f(epochs(res, r))} | '
                    f'{r["minutes"]:.1f} | '
                    f'{((r.get("train_wall_seconds") or 0) + r["fixed_seconds"]) / 60:.1f} |')
    return '\n'.join(rows)


def epochs(res: Dict[str, Any], run: Dict[str, Any]) -> Optional[float]:
    """Passes over the training images (whole-image arms) or SAHI's slices; None for the
    chip arms (their chips per epoch vary with the plan)."""
    per_epoch = (res.get('train_images') if run['arm'] in WHOLE_IMAGE_ARMS
                 else res.get('slices', {}).get('images') if run['arm'] == 'sahi' else None)
    return run['iters'] * run['batch_size'] / per_epoch if per_epoch else None


def tests_table(res: Dict[str, Any]) -> str:
    """Every test way of every model tested more than its own way: AP, AP50, AP75, AP per
    size band, seconds per image, peak memory. In one output folder those are the first
    seed's models; in folders merged by :func:`merge_results` also a later seed's model
    that a call of its own (``--seeds 1 --tests ...``) tested every way."""
    bands = _bands(res)
    rows = ['| trained | tested | AP | AP50 | AP75 | ' + ' | '.join(
        f'AP {b[3:]} px' for b in bands) + ' | s / image | peak MB |',
        '|---' * (7 + len(bands)) + '|']
    for key in _ordered(res):
        r = res['runs'][key]
        if r['seed'] != res['seeds'][0] and list(r['tests']) == [ARMS[r['arm']].natural_test]:
            continue  # a later seed tested its own way only: results_table has its row
        for test, t in r['tests'].items():
            m = t['metrics']
            rows.append(f'| {ARMS[r["arm"]].title} | {TESTS[test].title} | {_f(m["AP"])} | '
                        f'{_f(m["AP50"])} | {_f(m["AP75"])} | '
                        + ' | '.join(_f(m.get(b)) for b in bands)
                        + f' | {_f(t.get("sec_per_img"), ".2f")} | '
                        f'{_f(t.get("peak_rss_mb"), ".0f")} |')
    return '\n'.join(rows)


def claims(res: Dict[str, Any]) -> str:
    """The issue's goals, checked from the numbers (only for what ran), per seed."""
    runs, lines = res['runs'], []
    seeds = sorted({r['seed'] for r in runs.values()})
    pairs = [(s, runs[f'sniper_seed{s}'], runs[f'sahi_seed{s}']) for s in seeds
             if f'sniper_seed{s}' in runs and f'sahi_seed{s}' in runs]
    if pairs:
        diffs = [(s, _ap(a, 'pyramid') - _ap(b, 'sahi')) for s, a, b in pairs]
        holds = all(d >= 0 for _, d in diffs)
        lines.append(f'- SNIPER\'s ranged pyramid >= SAHI (its sliced prediction) at equal '
                     f'minutes in every seed: {"holds" if holds else "does NOT hold"} ('
                     + ', '.join(f'seed {s}: {_ap(a, "pyramid"):.1f} vs {_ap(b, "sahi"):.1f}, '
                                 f'{d:+.1f}' for (s, a, b), (_, d) in zip(pairs, diffs)) + ').')
    s0 = res['seeds'][0]
    for arm in SINGLE_SCALE_ARMS:
        single = runs.get(f'{arm}_seed{s0}')
        if single and (epochs(res, single) or 0) < 4:
            lines.append(f'- {ARMS[arm].title} trained {_f(epochs(res, single))} epochs, under '
                         'the 4 of the size rule (configs/airbus/faster_mnv2_airbus_880.py): '
                         'this budget does not train that size.')
    af, sn, sa = (runs.get(f'{a}_seed{s0}') for a in ('autofocus', 'sniper', 'sahi'))
    if af and sn and sa and 'autofocus' in af['tests']:
        d = _ap(af, 'autofocus') - _ap(sn, 'pyramid')
        ratio = af['tests']['autofocus']['sec_per_img'] / sa['tests']['sahi']['sec_per_img']
        ok = d >= -1.0 and ratio <= 0.5
        lines.append(f'- AutoFocus within 1 AP of SNIPER\'s pyramid at <= 0.5x SAHI\'s seconds '
                     f'per image (seed {s0}): {"holds" if ok else "does NOT hold"} (AutoFocus '
                     f'{_ap(af, "autofocus"):.1f} AP, SNIPER pyramid {_ap(sn, "pyramid"):.1f}: '
                     f'{d:+.1f}; {ratio:.2f}x SAHI\'s s / image).')
    return '\n'.join(lines)


def results_markdown(res: Dict[str, Any]) -> str:
    """``results.md``: budget, the runs, every test way, the goals."""
    subset = (f' **Tested on the first {res["val_images"]} validation images only: a smoke '
              'run, not the comparison.**' if res.get('val_images') else '')
    if res.get('holdout'):
        subset = (f' **Trained on the training split less {res["holdout"]} images and tested '
                  'on those (--holdout): for choosing settings, not the comparison.**')
    budget = (f'{res["iters"]} iterations per arm (--iters)' if res.get('iters') else
              f'{res["minutes"]:g} calibrated training minutes per arm')
    border = ''
    if res.get('test_ann') and osp.isfile(res['test_ann']):
        border = ('\n\nAircraft found (IoU >= 0.5), cut by the image border '
                  '(Truncated_airplane) and whole, each model\'s own test way:\n\n'
                  + border_table(res, res['test_ann']))
    return (f'Budget: {budget}; seeds {res["seeds"]}; {res["machine"]}.{subset}\n\n'
            + results_table(res) + '\n\nEvery test way of every model (first seed; AP by '
            'sqrt(area) band at full resolution):\n\n' + tests_table(res) + border + '\n\n'
            + claims(res))


def plot_curves(res: Dict[str, Any], path: str) -> str:
    """PNG: AP (each arm's own test way) against training minutes; later seeds dashed
    (:func:`scaleshapes_runs.equal_compute.plot_curves`)."""
    return ec.plot_curves(res, path, ARMS, ylabel='COCO AP (%), each arm\'s own test way',
                          xlabel='training minutes',
                          title=f'Airbus Aircraft, MobileNetV2 Faster R-CNN, '
                          f'{res["minutes"]:g} min per arm')


def _xyxy(rows: List[dict]) -> Any:
    """COCO ``bbox`` rows -> ``ndarray[N, 4]`` ``(x1, y1, x2, y2)``, same (original) frame."""
    import numpy as np

    b = np.array([r['bbox'] for r in rows], np.float64).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)


def found_by_origin(gt: Dict[str, Any], dets: List[dict], score_thr: float = 0.0,
                    iou_thr: float = 0.5, max_per_img: int = 100) -> Dict[str, Tuple[int, int]]:
    """Ground-truth boxes found, by the converter's ``origin`` (``Airplane`` or
    ``Truncated_airplane``: cut by the image border).

    Args:
        gt (dict): COCO ground truth, ORIGINAL pixels, annotations with ``origin``.
        dets (list[dict]): COCO results (``image_id``, ``bbox``, ``score``), same frame.
        score_thr (float): detections scoring below are left out.
        iou_thr (float): least IoU of a match (greedy, highest score first:
            :func:`mmsniper.visualization.comparison.match_found`).
        max_per_img (int): the highest-scoring this many per image, as COCO's AP counts them
            (SAHI's merged predictions are not capped).

    Returns:
        dict: origin -> ``(found, total)``.
    """
    from mmsniper.visualization.comparison import match_found

    by_img: Dict[int, List[dict]] = {}
    for d in sorted(dets, key=lambda d: -d['score']):
        if d['score'] >= score_thr:
            by_img.setdefault(d['image_id'], []).append(d)
    gts: Dict[int, List[dict]] = {}
    for a in gt['annotations']:
        gts.setdefault(a['image_id'], []).append(a)
    out: Dict[str, List[int]] = {}
    for img, anns in gts.items():
        found, _ = match_found(_xyxy(anns), _xyxy(by_img.get(img, [])[:max_per_img]),
                               iou_thr)
        for a, f in zip(anns, found):
            c = out.setdefault(a.get('origin', 'Airplane'), [0, 0])
            c[0], c[1] = c[0] + int(f), c[1] + 1
    return {k: (v[0], v[1]) for k, v in sorted(out.items())}


def border_table(res: Dict[str, Any], gt_file: str) -> str:
    """Every model (every seed: a handful of border aircraft differ by seed), its own test
    way: aircraft cut by the image border found (score >= 0.3, the pictures' threshold, and
    at any score), against whole aircraft."""
    gt = _read_json(gt_file)
    rows = ['| trained | seed | tested | cut by the border, score >= 0.3 | any score | whole '
            'aircraft, score >= 0.3 | any score |', '|---' * 7 + '|']
    for key in _ordered(res):
        r = res['runs'][key]
        test = ARMS[r['arm']].natural_test  # every run has it (run_arm's curve test)
        dets = _read_json(r['tests'][test]['detections'])
        hi, lo = found_by_origin(gt, dets, 0.3), found_by_origin(gt, dets)
        cells = [f'{c[k][0]} / {c[k][1]}' if k in c else '-'
                 for k in ('Truncated_airplane', 'Airplane') for c in (hi, lo)]
        rows.append(f'| {ARMS[r["arm"]].title} | {r["seed"]} | {TESTS[test].title} | '
                    + ' | '.join(cells) + ' |')
    return '\n'.join(rows)


def draw_pictures(res: Dict[str, Any], out_dir: str, data_root: str,
                  count: int = 4, val_ann: Optional[str] = None) -> List[str]:
    """``OUT/pictures/<image>.jpg``: ground truth | SNIPER (ranged pyramid) | SAHI (sliced
    prediction), first seed, for the ``count`` validation images with the most aircraft;
    nothing without both runs."""
    import cv2
    import numpy as np

    from mmsniper.visualization.comparison import draw_comparison

    s0 = res['seeds'][0]
    sn, sa = res['runs'].get(f'sniper_seed{s0}'), res['runs'].get(f'sahi_seed{s0}')
    if not (sn and sa and 'pyramid' in sn['tests'] and 'sahi' in sa['tests']):
        return []
    gt = _read_json(val_ann or osp.join(data_root, 'annotations', 'val.json'))
    dets = {'SNIPER (ranged pyramid)': _read_json(sn['tests']['pyramid']['detections']),
            'SAHI (sliced prediction)': _read_json(sa['tests']['sahi']['detections'])}

    per_img: Dict[int, List[dict]] = {}
    for a in gt['annotations']:
        per_img.setdefault(a['image_id'], []).append(a)
    images = sorted(gt['images'], key=lambda im: -len(per_img.get(im['id'], [])))[:count]
    paths = []
    for im in images:
        img = cv2.imread(osp.join(data_root, 'images', im['file_name']))
        if img is None:
            raise FileNotFoundError(f'image id {im["id"]}: cannot read {im["file_name"]}')
        panels = {}
        for title, rows in dets.items():
            mine = [d for d in rows if d['image_id'] == im['id']]
            panels[title] = (_xyxy(mine), np.array([d['score'] for d in mine]))
        pic = draw_comparison(img, _xyxy(per_img.get(im['id'], [])), panels)
        path = osp.join(out_dir, 'pictures',
                        osp.splitext(osp.basename(im['file_name']))[0] + '.jpg')
        os.makedirs(osp.dirname(path), exist_ok=True)
        cv2.imwrite(path, pic, [cv2.IMWRITE_JPEG_QUALITY, 85])
        paths.append(path)
    return paths


def dry_run_text(arms: Optional[Sequence[str]], seeds: Sequence[int], minutes: float,
                 calib_iters: int, curve_points: int,
                 tests: Optional[Sequence[str]] = None) -> str:
    """``--dry-run``: the plan and its estimated machine time."""
    arms = list(DEFAULT_ARMS) if arms is None else list(arms)
    est = estimate(arms, seeds, minutes, calib_iters, curve_points,
                   tests=DEFAULT_TESTS if tests is None else tests)
    lines = [f'plan: {len(est["steps"])} runs, {minutes:g} calibrated training minutes each, '
             f'seeds {list(seeds)} (later seeds: {", ".join(MULTI_SEED_ARMS)})']
    lines += [f'  {what}' for what, _ in est['steps']]
    lines.append(f'estimated machine time: {est["total_minutes"] / 60:.1f} h '
                 f'({est["total_minutes"]:.0f} min; rough: assumed s / iteration and '
                 f's / Mpx, see tools/airbus_runs/compare.py)')
    return '\n'.join(lines)
