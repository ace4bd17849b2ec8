"""The CPU demo behind ``tools/demo.py`` (``make demo``): SNIPER end to end on ScaleShapes.

Steps, each a real tool run in a subprocess (its output in ``WORK_DIR/logs/``, its
progress on the terminal), each skipped when its result is already there, so running the
demo again resumes where it stopped:

1. generate ScaleShapes in ``data/scaleshapes`` if missing;
2. negative chips (unless switched off): train the RPN alone on positive chips, then
   extract its proposals over the training set at the three test scales;
3. pictures of the chips SNIPER trains on (``browse_chips``);
4. train SNIPER (positive, and negative, chips);
5. evaluate through CocoMetric at the single test scale and with the image pyramid
   (``tools/test.py --tta``), drawing the pyramid's detections;
6. ``WORK_DIR/metrics.json`` and a summary.
"""
from __future__ import annotations

import glob
import os
import os.path as osp
import time
from typing import Any, Dict, List, Optional, Sequence

from .experiment import (  # this folder: tools/scaleshapes_runs/
    _read_json,
    _write_json,
    ensure_data,
    evaluate,
    format_cmd,
    repo_path,
    run_logged,
    tool_cmd,
    train,
)

RPN_CONFIG = 'configs/scaleshapes/sniper_rpn_r18_scaleshapes.py'
# The detector: MobileNetV2 initialised from torchvision's ImageNet weights (the offline
# package `make setup` installs); from scratch, the half-width ResNet-18 reached 4.7 AP where
# this one reached 32.5 in the same 300 iterations (docs/reports/scaleshapes.md).
POS_CONFIG = 'configs/scaleshapes/sniper_faster_mnv2_scaleshapes.py'
NEG_CONFIG = 'configs/scaleshapes/sniper_faster_mnv2_scaleshapes_neg.py'

#: Defaults sized for 12 minutes on 2 idle CPU cores (see docs/reports/scaleshapes.md for the
#: timings).
DEFAULT_ITERS = 300
DEFAULT_RPN_ITERS = 80
#: Detections drawn in the pictures score at least this (mmdet's default too; the pictures
#: print it). Lower shows the many low-score boxes COCO AP also counts.
PICTURE_SCORE_THR = 0.3


def negative_proposals(rpn_dir: str, rpn_iters: int = DEFAULT_RPN_ITERS, seed: int = 0,
                       cfg_options: Sequence[str] = (), logs: Optional[str] = None,
                       echo: bool = True, config: str = RPN_CONFIG) -> Dict[str, Any]:
    """Negative chips' proposals: train the RPN alone on positive chips, extract its
    proposals over the training set at the three test scales; resumable.

    Args:
        rpn_dir (str): the RPN's work dir; the proposals go to ``proposals_train.npz`` in it.
        logs (str, optional): folder of the two logs (``rpn_train.log``,
            ``extract_proposals.log``); default ``rpn_dir``.
        config (str): the RPN config (checkout-relative), default ScaleShapes'.

    Returns:
        dict: ``proposals`` (path), ``rpn`` (:func:`train`'s record), ``extract_seconds``
        (float: wall clock of the extraction, kept in ``proposals_record.json`` across
        re-runs), ``commands``.
    """
    logs = logs or rpn_dir
    rpn = train(repo_path(config), rpn_dir, rpn_iters, seed, cfg_options,
                log_path=osp.join(logs, 'rpn_train.log'), echo=echo)
    proposals = osp.join(rpn_dir, 'proposals_train.npz')
    # 20-image chunks: an interrupted extraction resumes. 1000 boxes per FPN level
    # before NMS instead of the reference's 6000: a CPU-time saving (about 25% of this
    # step measured on 8 images), not the reference setting; 300 are kept per scale.
    cmd = tool_cmd('extract_proposals.py', repo_path(config), rpn['checkpoint'],
                   '--out', proposals, '--chunk', 20, '--nms-pre', 1000)
    if cfg_options:
        cmd += ['--cfg-options', *cfg_options]
    record = osp.join(rpn_dir, 'proposals_record.json')
    rec = _read_json(record) if osp.isfile(record) else {'seconds': 0.0}
    if not osp.isfile(proposals):
        rec['seconds'] += run_logged(cmd, osp.join(logs, 'extract_proposals.log'), echo)
        _write_json(record, rec)
    return dict(proposals=proposals, rpn=rpn, extract_seconds=rec['seconds'],
                commands=[rpn['command'], format_cmd(cmd)])


def _step(n: int, total: int, text: str) -> None:
    print(f'\n=== [{n}/{total}] {text} ===', flush=True)


def run_demo(work_dir: str = 'work_dirs/demo', iters: int = DEFAULT_ITERS,
             rpn_iters: int = DEFAULT_RPN_ITERS, negatives: bool = True, seed: int = 0,
             num_chip_pictures: int = 6, data_root: str = 'data/scaleshapes',
             cfg_options: Sequence[str] = (), echo: bool = True) -> Dict[str, Any]:
    """Train SNIPER on ScaleShapes and evaluate it; resumable.

    Args:
        work_dir (str): everything goes here: ``metrics.json``, ``chips/*.png`` (the training
            chips per level), ``detections/*.jpg`` (pyramid detections on the validation
            images), ``rpn/`` and ``sniper/`` (trainings), ``eval_*`` and ``logs/``.
        iters (int): SNIPER training iterations (8 chips of 256x256 each).
        rpn_iters (int): RPN training iterations for the negative-chip proposals.
        negatives (bool): mine negative chips (RPN -> proposals -> SNIPER with negatives);
            False trains on positive chips only.
        seed (int): ``randomness.seed`` of the trainings (and the chip pictures' plan).
        num_chip_pictures (int): training images drawn with their chips.
        data_root (str): the ScaleShapes folder the configs read (relative to the working
            directory); generated with the default settings when missing.
        cfg_options (Sequence[str]): ``key=value`` overrides for every tool run.

    Returns:
        dict: the content of ``metrics.json``: ``single_scale`` and ``pyramid`` (COCO
        ``AP, AP50, AP75, APs, APm, APl`` in percent), ``settings``, ``seconds`` (per step
        and ``total``), ``outputs`` (paths), ``commands``.
    """
    if iters < 1 or rpn_iters < 1:
        raise ValueError(f'iters, rpn_iters: expected >= 1, got {iters}, {rpn_iters}')
    t_start = time.perf_counter()
    work_dir = osp.abspath(work_dir)
    logs = osp.join(work_dir, 'logs')
    os.makedirs(logs, exist_ok=True)
    total = 6 if negatives else 5
    secs: Dict[str, float] = {}
    cmds: List[str] = []
    n = 0

    def timed(name: str, t0: float) -> None:
        secs[name] = round(time.perf_counter() - t0, 1)
        if echo:
            print(f'--- {name}: {secs[name]:.0f} s', flush=True)

    n += 1
    _step(n, total, f'data: {data_root}')
    t0 = time.perf_counter()
    ensure_data(data_root)
    timed('data', t0)

    options = list(cfg_options)
    config = repo_path(POS_CONFIG)
    if negatives:
        n += 1
        _step(n, total, f'negative chips: RPN ({rpn_iters} iterations) and its proposals')
        t0 = time.perf_counter()
        neg = negative_proposals(osp.join(work_dir, 'rpn'), rpn_iters, seed, options,
                                 logs=logs, echo=echo)
        cmds += neg['commands']
        proposals = neg['proposals']
        timed('rpn_and_proposals', t0)
        config = repo_path(NEG_CONFIG)
        options += [f'sniper.proposals={proposals}']  # the one place it is set

    n += 1
    chips_dir = osp.join(work_dir, 'chips')
    _step(n, total, f'pictures of the training chips -> {chips_dir}')
    t0 = time.perf_counter()
    cmd = tool_cmd('analysis_tools/browse_chips.py', config, '--out', chips_dir,
                   '--num', num_chip_pictures, '--seed', seed)
    if options:
        cmd += ['--cfg-options', *options]
    cmds.append(format_cmd(cmd))
    if len(glob.glob(osp.join(chips_dir, '*.png'))) < num_chip_pictures:
        run_logged(cmd, osp.join(logs, 'browse_chips.log'), echo)
    timed('chip_pictures', t0)

    n += 1
    _step(n, total, f'SNIPER training, {iters} iterations '
          f'({"positive and negative" if negatives else "positive"} chips)')
    t0 = time.perf_counter()
    sn = train(config, osp.join(work_dir, 'sniper'), iters, seed, options,
               log_path=osp.join(logs, 'sniper_train.log'), echo=echo)
    cmds.append(sn['command'])
    timed('sniper_training', t0)

    n += 1
    det_dir = osp.join(work_dir, 'detections')
    _step(n, total, 'evaluation: single scale, then the image pyramid (--tta)')
    t0 = time.perf_counter()
    single = evaluate(sn['checkpoint'], osp.join(work_dir, 'eval_single_scale'), False,
                      config, cfg_options=options, echo=echo)
    timed('eval_single_scale', t0)
    t0 = time.perf_counter()
    # Pictures: ground truth left, detections scoring >= PICTURE_SCORE_THR right, each
    # panel captioned (SniperDetVisualizer, set by the ScaleShapes configs).
    pyramid = evaluate(sn['checkpoint'], osp.join(work_dir, 'eval_pyramid'), True, config,
                       show_dir=det_dir, echo=echo,
                       cfg_options=options + [
                           f'default_hooks.visualization.score_thr={PICTURE_SCORE_THR}'])
    timed('eval_pyramid', t0)
    cmds += [single['command'], pyramid['command']]

    n += 1
    _step(n, total, 'summary')
    metrics_path = osp.join(work_dir, 'metrics.json')
    old = _read_json(metrics_path) if osp.isfile(metrics_path) else {}
    # Steps skipped on a re-run keep the durations of the run that did them.
    durations = dict(old.get('seconds', {}))
    durations.update({k: v for k, v in secs.items() if v >= 1.0 or k not in durations})
    durations['total_this_run'] = round(time.perf_counter() - t_start, 1)
    out = dict(
        single_scale=single['metrics'], pyramid=pyramid['metrics'],
        settings=dict(config=osp.relpath(config, repo_path('.')), iters=iters,
                      rpn_iters=rpn_iters if negatives else None, negatives=negatives,
                      seed=seed, chips_per_batch=8, cfg_options=list(cfg_options),
                      picture_score_thr=PICTURE_SCORE_THR),
        seconds=durations,
        outputs=dict(checkpoint=sn['checkpoint'], chips=chips_dir, detections=det_dir,
                     logs=logs),
        commands=cmds)
    _write_json(metrics_path, out)
    if echo:
        print(format_summary(out, metrics_path), flush=True)
    return out


def _pictures(folder: str) -> int:
    return sum(len(files) for _, _, files in os.walk(folder)
               if files) if osp.isdir(folder) else 0


def explain(m: Dict[str, Any]) -> List[str]:
    """What the two AP rows mean and how they compare, in words (part of the summary)."""
    single, pyr = m['single_scale'], m['pyramid']
    d_ap = pyr.get('AP', float('nan')) - single.get('AP', float('nan'))
    d_aps = pyr.get('APs', float('nan')) - single.get('APs', float('nan'))
    verdict = (f'the pyramid is {d_ap:+.1f} AP ahead of the single scale ({d_aps:+.1f} on '
               'small objects, which it sees enlarged).' if d_ap > 0 else
               f'the pyramid is NOT ahead of the single scale ({d_ap:+.1f} AP): too short a '
               'training for the scales to differ, see docs/reports/scaleshapes.md.')
    return [
        'What the numbers mean: AP is COCO\'s average precision over box-overlap (IoU) '
        'thresholds 0.50 to 0.95 (100 = every object found, tightly, nothing else);',
        'AP50 counts a detection right at half overlap; APs / APm / APl: objects smaller '
        'than 32x32, up to 96x96, larger (original pixels).',
        '"single-scale" tests each image once (short side 480); "pyramid" tests it at three '
        'scales, keeps at each only the detections in that',
        'scale\'s valid size range and merges them (Soft-NMS): how SNIPER is meant to be '
        'tested. Here ' + verdict]


def format_summary(m: Dict[str, Any], metrics_path: Optional[str] = None) -> str:
    """The AP table (single scale vs. pyramid), what it means, timings, where outputs are."""
    keys = ['AP', 'AP50', 'APs', 'APm', 'APl']
    head = f'{"":<14}' + ''.join(f'{k:>7}' for k in keys)
    rows = [head]
    for name in ('single_scale', 'pyramid'):
        vals = m[name]
        rows.append(f'{name.replace("_", "-"):<14}' + ''.join(
            f'{vals.get(k, float("nan")):>7.1f}' for k in keys))
    s = m['settings']
    t = m['seconds']
    thr = s.get('picture_score_thr', PICTURE_SCORE_THR)
    lines = ['', f'SNIPER on ScaleShapes: {s["iters"]} iterations, '
             + ('positive + negative chips' if s['negatives'] else 'positive chips only')
             + f', seed {s["seed"]}. COCO bbox AP (%) on the validation set:', *rows, '',
             *explain(m), '',
             'time (s): ' + ', '.join(f'{k} {v:.0f}' for k, v in t.items()),
             f'chips:      {m["outputs"]["chips"]} ({_pictures(m["outputs"]["chips"])} pictures)',
             f'detections: {m["outputs"]["detections"]} '
             f'({_pictures(m["outputs"]["detections"])} pictures: ground truth left, '
             f'pyramid detections with score >= {thr:g} right)']
    if metrics_path:
        lines.append(f'metrics:    {metrics_path}')
    return '\n'.join(lines)
