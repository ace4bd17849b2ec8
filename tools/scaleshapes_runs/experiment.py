"""SNIPER against single-scale and full-pyramid training, in miniature (ScaleShapes, CPU).

The importable side of ``tools/analysis_tools/sniper_vs_baselines.py`` (and the building
blocks ``tools/demo.py`` shares). The same light Faster R-CNN is trained three ways, for
the same number of iterations, with the same seed:

1. ``single_scale``: whole images at one scale (``configs/scaleshapes/faster_r18_scaleshapes.py``);
2. ``pyramid``: whole images at one of SNIPER's three training scales drawn at random each
   time (``configs/scaleshapes/pyramid_faster_r18_scaleshapes.py``), the full pyramid;
3. ``sniper``: SNIPER's positive chips (``configs/scaleshapes/sniper_faster_r18_scaleshapes.py``);

and each checkpoint is evaluated with the SAME inference: the SNIPER config's image pyramid
(``tools/test.py SNIPER_CONFIG CKPT --tta``: ``tta_pipeline`` + ``tta_model``), through
CocoMetric. The three models share one architecture, so any of them loads into the SNIPER
config. Every step runs the real tools in a subprocess; the commands are recorded.

Pixels processed in training are counted from the annotations (no image is read):
per image and epoch (one pass over the training set) and in total over the run.
"""
from __future__ import annotations

import glob
import json
import os
import os.path as osp
import re
import shlex
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: Arm name -> training config (relative to the checkout). Order = table order.
ARMS: Dict[str, str] = {
    'single_scale': 'configs/scaleshapes/faster_r18_scaleshapes.py',
    'pyramid': 'configs/scaleshapes/pyramid_faster_r18_scaleshapes.py',
    'sniper': 'configs/scaleshapes/sniper_faster_r18_scaleshapes.py',
}
#: The config whose test pyramid (tta_pipeline + tta_model) evaluates every arm.
EVAL_CONFIG = 'configs/scaleshapes/sniper_faster_r18_scaleshapes.py'
#: Detector (``--detector``) -> arm -> training config. The arms of one detector train one
#: architecture, so every checkpoint loads into the detector's ``sniper`` config, whose image
#: pyramid evaluates them all. The one-stage detectors (docs/reports/one_stage_heads.md) start
#: from ImageNet MobileNetV2 weights and have no full-pyramid arm.
DETECTORS: Dict[str, Dict[str, str]] = {
    'faster_r18': ARMS,
    'retinanet_mnv2': {
        'single_scale': 'configs/scaleshapes/retinanet_mnv2_scaleshapes.py',
        'sniper': 'configs/scaleshapes/sniper_retinanet_mnv2_scaleshapes.py'},
    'fcos_mnv2': {
        'single_scale': 'configs/scaleshapes/fcos_mnv2_scaleshapes.py',
        'sniper': 'configs/scaleshapes/sniper_fcos_mnv2_scaleshapes.py'},
}
ARM_TITLES = {'single_scale': 'single-scale', 'pyramid': 'full image pyramid',
              'sniper': 'SNIPER chips'}

#: CocoMetric keys -> short names (values are reported in percent).
METRIC_KEYS = {'coco/bbox_mAP': 'AP', 'coco/bbox_mAP_50': 'AP50', 'coco/bbox_mAP_75': 'AP75',
               'coco/bbox_mAP_s': 'APs', 'coco/bbox_mAP_m': 'APm', 'coco/bbox_mAP_l': 'APl'}
#: ... and the mask metrics of ``CocoMetric(metric=['bbox', 'segm'])`` (docs/user_guides/masks.md).
SEGM_KEYS = {k.replace('bbox', 'segm'): 'segm_' + v for k, v in METRIC_KEYS.items()}

# Lines of the tools' output worth showing while they run (the rest goes to the log file).
_PROGRESS = re.compile(r' - mmengine - \w+ - (Iter\(|SNIPER epoch|Saving checkpoint|.*bbox_mAP'
                       r'|.*[Rr]esum)|Traceback|Error:|^wrote |^\d+ (images|detections)')
_BAR = re.compile(r'\]\s*(\d+)/(\d+),')  # mmengine.utils.ProgressBar


def repo_path(rel: str) -> str:
    """Absolute path of ``rel`` inside the checkout (configs, tools)."""
    return osp.join(REPO, rel)


def tool_cmd(tool: str, *args: Any) -> List[str]:
    """``[python, REPO/tools/<tool>, *args]`` as strings."""
    return [sys.executable, repo_path(osp.join('tools', tool))] + [str(a) for a in args]


def format_cmd(cmd: Sequence[str]) -> str:
    """A shell-ready, checkout-relative rendering of ``cmd`` (for the records)."""
    out = []
    for i, c in enumerate(cmd):
        if i == 0 and c == sys.executable:
            c = 'python'
        elif c.startswith(REPO + os.sep):
            c = osp.relpath(c, REPO)
        out.append(shlex.quote(c))
    return ' '.join(out)


def _show(line: str) -> bool:
    """Whether a tool's output line is progress worth echoing (bars: every tenth)."""
    bar = _BAR.search(line)
    if bar:
        done, total = int(bar.group(1)), int(bar.group(2))
        return done == total or done % max(1, total // 10) == 0
    return bool(_PROGRESS.search(line))


def run_logged(cmd: Sequence[str], log_path: str, echo: bool = True,
               prefix: str = '') -> float:
    """Run ``cmd``, all its output to ``log_path``, progress lines to the terminal.

    Returns:
        float: wall-clock seconds.

    Raises:
        RuntimeError: the command failed; the message holds the end of its output.
    """
    os.makedirs(osp.dirname(osp.abspath(log_path)), exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    env.setdefault('PYTHONWARNINGS', 'ignore')
    t0 = time.perf_counter()
    tail: List[str] = []
    with open(log_path, 'a') as log:
        log.write(f'\n$ {format_cmd(cmd)}\n')
        log.flush()
        proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env=env)
        assert proc.stdout is not None
        buf = b''
        while True:
            chunk = proc.stdout.read1(4096) if hasattr(proc.stdout, 'read1') \
                else proc.stdout.read(4096)
            if not chunk:
                break
            buf += chunk
            # Progress bars end their lines with '\r': treat it as a line end too.
            parts = re.split(rb'[\r\n]', buf)
            buf = parts.pop()
            for raw in parts:
                line = raw.decode('utf-8', 'replace')
                if not line.strip():
                    continue
                log.write(line + '\n')
                tail = (tail + [line])[-60:]
                if echo and _show(line):
                    print(f'{prefix}{line[:200]}', flush=True)
        if buf:
            log.write(buf.decode('utf-8', 'replace') + '\n')
        rc = proc.wait()
    secs = time.perf_counter() - t0
    if rc != 0:
        raise RuntimeError(f'command failed with exit code {rc} (full log: {log_path}):\n'
                           f'{format_cmd(cmd)}\n' + '\n'.join(tail[-40:]))
    return secs


def schedule_options(iters: int, warmup: int = 100, step_at: float = 0.76,
                     checkpoint_interval: Optional[int] = None) -> List[str]:
    """``--cfg-options`` that give any of the ScaleShapes configs the same schedule.

    ``iters`` iterations, linear warm-up over the first ``min(warmup, iters // 4)``, learning
    rate x0.1 at ``step_at * iters``, a checkpoint every ``checkpoint_interval`` (default:
    about every tenth of the run, so that an interrupted run resumes) and at the end, and no
    validation during training (every arm is evaluated afterwards, the same way).
    """
    if iters < 1:
        raise ValueError(f'iters: expected >= 1, got {iters}')
    ckpt = checkpoint_interval or max(1, min(iters, 100, -(-iters // 10)))
    return [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None',
            f'param_scheduler.0.end={max(1, min(warmup, iters // 4))}',
            f'param_scheduler.1.end={iters}',
            f'param_scheduler.1.milestones=[{max(1, int(iters * step_at))}]',
            f'default_hooks.checkpoint.interval={ckpt}',
            'default_hooks.checkpoint.max_keep_ckpts=1']


def _read_json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)


def _write_json(path: str, obj: Any) -> None:
    from mmsniper.utils.fileio import atomic_json  # here: importing mmsniper is slow

    atomic_json(path, obj, indent=2)


def ensure_data(data_root: str = 'data/scaleshapes') -> str:
    """Generate the default ScaleShapes set at ``data_root`` unless one is already there.

    A folder that already has ``annotations/train.json`` and ``annotations/val.json`` is
    used as it is (a smaller or custom set is kept, never regenerated).
    """
    if all(osp.isfile(osp.join(data_root, 'annotations', f'{s}.json')) for s in ('train', 'val')):
        return data_root
    from mmsniper.generated.scaleshapes import ensure_scaleshapes

    print(f'generating the ScaleShapes data set in {data_root} ...', flush=True)

    def progress(split: str, done: int, total: int) -> None:
        if done == total or done % max(1, total // 5) == 0:
            print(f'  {split}: {done}/{total} images', flush=True)

    ensure_scaleshapes(data_root, workers=min(2, os.cpu_count() or 1), progress=progress)
    return data_root


_VAL_KEYS = ('val_dataloader.', 'val_evaluator.', 'val_cfg.')


def train(config: str, work_dir: str, iters: int, seed: int = 0,
          cfg_options: Sequence[str] = (), log_path: Optional[str] = None,
          echo: bool = True) -> Dict[str, Any]:
    """Train ``config`` for ``iters`` iterations with ``tools/train.py``; resumable.

    A finished run (``work_dir/iter_<iters>.pth`` exists) is not repeated; an interrupted
    one resumes from its last checkpoint. Training time adds up over the attempts.

    Returns:
        dict: ``checkpoint`` (str), ``seconds`` (float, wall clock of the training
        processes), ``sec_per_iter`` (float | None, median of the logged iteration times),
        ``command`` (str), ``skipped`` (bool).
    """
    ckpt = osp.join(work_dir, f'iter_{iters}.pth')
    record = osp.join(work_dir, 'train_record.json')
    rec = _read_json(record) if osp.isfile(record) else {'seconds': 0.0}
    # Validation is off during training: overrides of its settings have nothing to change.
    cfg_options = [o for o in cfg_options if not o.startswith(_VAL_KEYS)]
    cmd = tool_cmd('train.py', config, '--work-dir', work_dir, '--cfg-options',
                   f'randomness.seed={seed}', *schedule_options(iters), *cfg_options)
    rec['command'] = format_cmd(cmd)
    if osp.isfile(ckpt):
        return dict(rec, checkpoint=ckpt, skipped=True)
    if osp.isfile(osp.join(work_dir, 'last_checkpoint')):
        cmd.append('--resume')
    rec['seconds'] = rec['seconds'] + run_logged(cmd, log_path or osp.join(work_dir,
                                                                            'train.out'), echo)
    if not osp.isfile(ckpt):
        raise RuntimeError(f'training finished without writing {ckpt}')
    rec['sec_per_iter'] = logged_sec_per_iter(work_dir)
    _write_json(record, {k: v for k, v in rec.items() if k != 'checkpoint'})
    return dict(rec, checkpoint=ckpt, skipped=False)


def logged_iter_times(work_dir: str) -> List[Tuple[int, float]]:
    """``(iteration, seconds per iteration)`` of every logged training record, by iteration.

    Each record's ``time`` is mmengine's mean over its logging window. A resumed run logs
    again what the interrupted one logged after its last checkpoint: the newest log wins.
    """
    by_iter: Dict[int, Tuple[float, float]] = {}
    for path in glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')):
        mtime = osp.getmtime(path)
        with open(path) as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if 'loss' in rec and 'time' in rec and 'iter' in rec:
                    it = int(rec['iter'])
                    if it not in by_iter or by_iter[it][0] <= mtime:
                        by_iter[it] = (mtime, float(rec['time']))
    return [(it, by_iter[it][1]) for it in sorted(by_iter)]


def logged_sec_per_iter(work_dir: str) -> Optional[float]:
    """Median ``time`` (seconds per iteration) over the training logs' scalars files."""
    times = sorted(t for _, t in logged_iter_times(work_dir))
    return times[len(times) // 2] if times else None


_TEST_TIME = re.compile(r'Iter\(test\).*?\btime: ([0-9.]+)')


def median_test_sec_per_img(log_path: str) -> Optional[float]:
    """Median logged ``time`` of a ``tools/test.py`` run's iterations (batch 1: seconds per
    image), from its output ``log_path``; None when it logged none."""
    if not osp.isfile(log_path):
        return None
    with open(log_path) as f:
        times = [float(m.group(1)) for m in _TEST_TIME.finditer(f.read())]
    return statistics.median(times) if times else None


def read_test_metrics(work_dir: str) -> Dict[str, float]:
    """The COCO metrics the newest ``tools/test.py`` run in ``work_dir`` logged.

    Returns:
        dict: ``AP, AP50, AP75, APs, APm, APl`` in percent (float; -100 where COCO has no
        ground truth of that size, as pycocotools); with mask metrics also ``segm_AP``,
        ``segm_AP50`` ... ``segm_APl``.
    """
    found = []
    for path in glob.glob(osp.join(work_dir, '*', '*.json')):
        try:
            data = _read_json(path)
        except ValueError:
            continue
        if isinstance(data, dict) and 'coco/bbox_mAP' in data:
            found.append((osp.getmtime(path), data))
    if not found:
        raise RuntimeError(f'no COCO metrics found under {work_dir}/*/*.json')
    data = max(found, key=lambda t: t[0])[1]
    return {short: round(100.0 * float(data[k]), 2)
            for k, short in {**METRIC_KEYS, **SEGM_KEYS}.items() if k in data}


def evaluate(checkpoint: str, work_dir: str, tta: bool = True,
             config: str = EVAL_CONFIG, show_dir: Optional[str] = None,
             cfg_options: Sequence[str] = (), echo: bool = True) -> Dict[str, Any]:
    """COCO metrics of ``checkpoint`` with ``tools/test.py config [--tta]``; cached.

    Args:
        checkpoint (str): weights of a model with ``config``'s architecture.
        work_dir (str): the test run's directory; ``work_dir/metrics.json`` caches the result.
        tta (bool): the config's image pyramid (``--tta``) instead of its single-scale test.
        config (str): path (absolute or relative to the checkout) of the test config.
        show_dir (str, optional): ``--show-dir`` (pictures, under ``work_dir/<timestamp>/``).

    Returns:
        dict: ``metrics`` (see :func:`read_test_metrics`), ``seconds``, ``command``,
        ``sec_per_img`` (:func:`median_test_sec_per_img` of the run's log).
    """
    cache = osp.join(work_dir, 'metrics.json')
    log = osp.join(work_dir, 'test.out')
    if osp.isfile(cache):
        out = _read_json(cache)
        if 'sec_per_img' not in out:  # older caches; the log is read only for them
            out['sec_per_img'] = median_test_sec_per_img(log)
        return out
    cfg_path = config if osp.isabs(config) else repo_path(config)
    cmd = tool_cmd('test.py', cfg_path, checkpoint, '--work-dir', work_dir)
    if tta:
        cmd.append('--tta')
    if show_dir:
        cmd += ['--show-dir', show_dir]
    if cfg_options:
        cmd += ['--cfg-options', *cfg_options]
    secs = run_logged(cmd, log, echo)
    out = dict(metrics=read_test_metrics(work_dir), seconds=secs, command=format_cmd(cmd),
               sec_per_img=median_test_sec_per_img(log))
    _write_json(cache, out)
    return out


def write_results(out_dir: str, res: Dict[str, Any], markdown: str,
                  plot: Optional[Callable[[Dict[str, Any], str], Any]] = None) -> None:
    """``out_dir/results.json`` (``res``), ``results.md`` (``markdown``) and, with
    ``plot(res, path)`` and matplotlib installed, ``results.png``."""
    _write_json(osp.join(out_dir, 'results.json'), res)
    with open(osp.join(out_dir, 'results.md'), 'w') as f:
        f.write(markdown + '\n')
    if plot is not None:
        try:
            plot(res, osp.join(out_dir, 'results.png'))
        except ImportError:
            pass


def pixel_stats(sniper_config: str = ARMS['sniper'], epochs: int = 3, seed: int = 0,
                cfg_options: Optional[dict] = None) -> Dict[str, float]:
    """Training pixels per image and epoch, from the annotations of ``sniper_config``.

    SNIPER: the chips of each epoch's plan (positive and negative) x chip area, averaged over
    ``epochs`` plans; single-scale: each image resized to the config's ``single_scale``;
    full pyramid: each image at every one of its ``scales``.

    Returns:
        dict: ``chip_mpix_per_image``, ``single_scale_mpix_per_image``,
        ``pyramid_mpix_per_image`` (float, megapixels), ``chip_size`` (int),
        ``chips_per_image`` (float), ``images`` (int).
    """
    from mmsniper.datasets.chip_stats import build_sniper_dataset, compute_chip_stats

    cfg_path = sniper_config if osp.isabs(sniper_config) else repo_path(sniper_config)
    ds = build_sniper_dataset(cfg_path, cfg_options)
    runs = [compute_chip_stats(ds, seed=seed, epoch=e, progress=False) for e in range(epochs)]
    chip = sum(r['chip_mpix_per_image'] for r in runs) / len(runs)
    return dict(images=runs[0]['images'], chip_size=runs[0]['chip_size'],
                chip_mpix_per_image=chip,
                chips_per_image=chip * 1e6 / runs[0]['chip_size'] ** 2,
                single_scale_mpix_per_image=runs[0]['single_scale_mpix_per_image'],
                pyramid_mpix_per_image=runs[0]['pyramid_mpix_per_image'],
                num_scales=len(runs[0]['scales']))


def arm_pixels(arm: str, px: Dict[str, float], batch_size: int, iters: int) -> Dict[str, float]:
    """Pixels an arm processes: per image and epoch, per training sample, and in total.

    An epoch is the paper's: every image once (single-scale), every image at every scale
    (the full pyramid: ``num_scales`` samples per image, since ``pyramid`` draws one scale
    per sample, a third of the pyramid's pixels on average), every chip of the epoch's plan
    (SNIPER: ``chips_per_image`` samples per image).

    Returns:
        dict: ``mpix_per_image_epoch``, ``mpix_per_sample``, ``train_mpix_total`` (float,
        megapixels) and ``samples_per_image_epoch`` (float).
    """
    if arm == 'single_scale':
        per_img, per_sample = px['single_scale_mpix_per_image'], px['single_scale_mpix_per_image']
        samples = 1.0
    elif arm == 'pyramid':
        per_img = px['pyramid_mpix_per_image']
        per_sample = per_img / px['num_scales']
        samples = float(px['num_scales'])
    elif arm == 'sniper':
        per_img, per_sample = px['chip_mpix_per_image'], px['chip_size'] ** 2 / 1e6
        samples = per_img / per_sample
    else:
        raise ValueError(f'arm: expected one of {list(ARMS)}, got {arm!r}')
    return dict(mpix_per_image_epoch=per_img, mpix_per_sample=per_sample,
                train_mpix_total=per_sample * batch_size * iters,
                samples_per_image_epoch=samples)


def epoch_minutes(r: Dict[str, Any], images: int) -> Optional[float]:
    """Estimated minutes of one epoch (see :func:`arm_pixels`) of an arm's training:
    ``images x samples_per_image_epoch / batch_size`` iterations at its median logged
    seconds per iteration. None when a number is missing."""
    if not (r.get('sec_per_iter') and r.get('samples_per_image_epoch') and r.get('batch_size')):
        return None
    return images * r['samples_per_image_epoch'] / r['batch_size'] * r['sec_per_iter'] / 60


def _batch_size(config: str, cfg_options: Sequence[str]) -> int:
    from mmengine.config import Config

    cfg = Config.fromfile(config)
    bs = cfg.train_dataloader.batch_size
    for opt in cfg_options:
        if opt.startswith('train_dataloader.batch_size='):
            bs = int(opt.split('=', 1)[1])
    return int(bs)


def _fmt(v: Optional[float], digits: int = 1) -> str:
    if v is None:
        return '-'
    if v < 0:  # COCO: no ground truth of that size
        return 'n/a'
    return f'{v:.{digits}f}'


def _ordered(arms: Dict[str, Any]) -> List[str]:
    """Arm names in table order (:data:`ARMS`' order, whatever order they ran in)."""
    return [a for a in ARMS if a in arms] + [a for a in arms if a not in ARMS]


def markdown_table(results: Dict[str, Any]) -> str:
    """The experiment's result table (markdown)."""
    images = results.get('pixels', {}).get('images', 0)
    rows = ['| training | AP | AP50 | APs | APm | APl | Mpx / image / epoch | '
            'Mpx in training | train time (min) | s / iter | min / epoch (est.) |',
            '|---|---|---|---|---|---|---|---|---|---|---|']
    for arm in _ordered(results['arms']):
        r = results['arms'][arm]
        m = r.get('pyramid_eval', {}).get('metrics', {})
        rows.append(
            f'| {ARM_TITLES.get(arm, arm)} | {_fmt(m.get("AP"))} | {_fmt(m.get("AP50"))} | '
            f'{_fmt(m.get("APs"))} | {_fmt(m.get("APm"))} | {_fmt(m.get("APl"))} | '
            f'{r["mpix_per_image_epoch"]:.2f} | {r["train_mpix_total"]:.0f} | '
            f'{_fmt(r["train_seconds"] / 60 if r.get("train_seconds") else None)} | '
            f'{_fmt(r.get("sec_per_iter"), 2)} | {_fmt(epoch_minutes(r, images), 2)} |')
    return '\n'.join(rows)


def inference_table(results: Dict[str, Any]) -> str:
    """Markdown: every arm's checkpoint tested at the single test scale and with the
    pyramid (AP, APs, APm, APl); empty without ``single_scale_eval`` results."""
    arms = [a for a in _ordered(results['arms'])
            if 'single_scale_eval' in results['arms'][a]]
    if not arms:
        return ''
    rows = ['| trained | tested | AP | AP50 | APs | APm | APl |',
            '|---|---|---|---|---|---|---|']
    for arm in arms:
        for key, title in (('single_scale_eval', 'single scale'), ('pyramid_eval', 'pyramid')):
            m = results['arms'][arm].get(key, {}).get('metrics', {})
            rows.append(f'| {ARM_TITLES.get(arm, arm)} | {title} | ' + ' | '.join(
                _fmt(m.get(k)) for k in ('AP', 'AP50', 'APs', 'APm', 'APl')) + ' |')
    return '\n'.join(rows)


def plot_results(results: Dict[str, Any], path: str) -> str:
    """PNG: COCO AP by object size per arm (left); training pixels and time (right)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    arms = _ordered(results['arms'])
    titles = [ARM_TITLES.get(a, a) for a in arms]
    colours = {'single_scale': '#888888', 'pyramid': '#1f77b4', 'sniper': '#d62728'}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    keys = ['AP', 'APs', 'APm', 'APl']
    width = 0.8 / max(len(arms), 1)
    for i, arm in enumerate(arms):
        m = results['arms'][arm].get('pyramid_eval', {}).get('metrics', {})
        vals = [max(m.get(k, 0.0), 0.0) for k in keys]
        ax1.bar([j + i * width for j in range(len(keys))], vals, width, label=titles[i],
                color=colours.get(arm, '#2ca02c'))
    ax1.set_xticks([j + width * (len(arms) - 1) / 2 for j in range(len(keys))])
    ax1.set_xticklabels(keys)
    ax1.set_ylabel('COCO AP (%), pyramid inference')
    ax1.set_title(f'{results.get("detector", "faster_r18")}: {results["iters"]} iterations '
                  f'each, seed {results["seed"]}')
    ax1.legend(fontsize=8)
    px = [results['arms'][a]['train_mpix_total'] for a in arms]
    mins = [(results['arms'][a].get('train_seconds') or 0) / 60 for a in arms]
    pos = range(len(arms))
    ax2.bar([p - 0.2 for p in pos], px, 0.4, label='Mpx processed in training',
            color='#1f77b4')
    ax2.set_ylabel('megapixels processed in training')
    ax2.set_ylim(0, max(px + [1e-9]) * 1.3)  # room for the legend
    ax3 = ax2.twinx()
    ax3.bar([p + 0.2 for p in pos], mins, 0.4, label='training time (min)', color='#ff7f0e')
    ax3.set_ylabel('training wall clock (min)')
    ax3.set_ylim(0, max(mins + [1e-9]) * 1.3)
    ax2.set_xticks(list(pos))
    ax2.set_xticklabels(titles, fontsize=8)
    ax2.set_title('training cost')
    h1, l1 = ax2.get_legend_handles_labels()
    h2, l2 = ax3.get_legend_handles_labels()
    ax2.legend(h1 + h2, l1 + l2, fontsize=8, loc='upper left')
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def machine_description() -> str:
    """CPU model, core count and torch's thread count (for the records)."""
    import platform

    model = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    model = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import torch
        threads = torch.get_num_threads()
    except ImportError:  # pragma: no cover
        threads = None
    return f'{model}, {os.cpu_count()} cores (torch threads: {threads}), no GPU'


def run_experiment(out_dir: str = 'work_dirs/sniper_vs_baselines', iters: int = 1000,
                   seed: int = 0, arms: Optional[Sequence[str]] = None,
                   single_scale_eval: bool = False, cfg_options: Sequence[str] = (),
                   data_root: str = 'data/scaleshapes', echo: bool = True,
                   detector: str = 'faster_r18') -> Dict[str, Any]:
    """Train every arm for ``iters`` iterations, evaluate each with the SNIPER pyramid.

    Resumable: finished trainings and evaluations are kept under ``out_dir/<arm>/`` and
    skipped when run again; an interrupted training resumes.

    Args:
        out_dir (str): where everything goes: ``results.json``, ``results.md``,
            ``results.png``, ``commands.sh``, one folder per arm.
        iters (int): training iterations of every arm.
        seed (int): ``randomness.seed`` of every training.
        arms (Sequence[str], optional): arm names of the detector (default: all of them).
        single_scale_eval (bool): also evaluate each checkpoint at the single test scale.
        cfg_options (Sequence[str]): extra ``key=value`` overrides for every tool run.
        data_root (str): the ScaleShapes folder (relative to the working directory, as the
            configs expect); generated with the default settings when missing.
        detector (str): a key of :data:`DETECTORS` (which configs the arms train).

    Returns:
        dict: the content of ``results.json``: ``detector``, ``arms`` (per arm: metrics of
        the pyramid and single-scale evaluations, pixels, training seconds, commands), ``pixels``,
        ``iters``, ``seed``, ``machine``, ``table`` (markdown), ``commands``.
    """
    if detector not in DETECTORS:
        raise ValueError(f'detector: expected one of {list(DETECTORS)}, got {detector!r}')
    configs = DETECTORS[detector]
    arms = list(configs) if arms is None else list(arms)
    unknown = [a for a in arms if a not in configs]
    if unknown or not arms:
        raise ValueError(f'arms: expected names among {list(configs)} (detector {detector}), '
                         f'got {arms}')
    t_start = time.perf_counter()
    os.makedirs(out_dir, exist_ok=True)
    prior = osp.join(out_dir, 'results.json')
    prior_seconds = float(_read_json(prior).get('seconds', 0.0)) if osp.isfile(prior) else 0.0
    ensure_data(data_root)
    px = pixel_stats(configs['sniper'], seed=seed, cfg_options=_options_dict(cfg_options))
    results: Dict[str, Any] = dict(detector=detector, iters=iters, seed=seed,
                                   machine=machine_description(), pixels=px, arms={},
                                   commands=[])
    eval_cfg = repo_path(configs['sniper'])
    for n, arm in enumerate(arms, 1):
        config = repo_path(configs[arm])
        arm_dir = osp.join(out_dir, arm)
        if echo:
            print(f'\n=== [{n}/{len(arms)}] {ARM_TITLES[arm]}: training {iters} iterations '
                  f'({configs[arm]}) ===', flush=True)
        tr = train(config, osp.join(arm_dir, 'train'), iters, seed, cfg_options, echo=echo)
        if echo:
            print(f'=== [{n}/{len(arms)}] {ARM_TITLES[arm]}: pyramid evaluation ===', flush=True)
        pe = evaluate(tr['checkpoint'], osp.join(arm_dir, 'eval_pyramid'), True, eval_cfg,
                      cfg_options=cfg_options, echo=echo)
        r = dict(config=configs[arm], batch_size=_batch_size(config, cfg_options),
                 train_seconds=tr['seconds'], sec_per_iter=tr.get('sec_per_iter'),
                 train_command=tr['command'], pyramid_eval=pe)
        if single_scale_eval:
            r['single_scale_eval'] = evaluate(tr['checkpoint'],
                                              osp.join(arm_dir, 'eval_single_scale'),
                                              False, eval_cfg, cfg_options=cfg_options,
                                              echo=echo)
        r.update(arm_pixels(arm, px, r['batch_size'], iters))
        results['arms'][arm] = r
        results['commands'] += [tr['command'], pe['command']] + (
            [r['single_scale_eval']['command']] if single_scale_eval else [])
        _write_json(osp.join(out_dir, 'results.json'), results)  # partial results survive

    results['table'] = markdown_table(results)
    # Wall clock over every invocation that worked on this output (resumed runs add up).
    results['seconds'] = prior_seconds + time.perf_counter() - t_start
    _write_json(osp.join(out_dir, 'results.json'), results)
    with open(osp.join(out_dir, 'results.md'), 'w') as f:
        f.write(results_markdown(results) + '\n')
    with open(osp.join(out_dir, 'commands.sh'), 'w') as f:
        f.write('# commands run by sniper_vs_baselines.py, in order\n'
                + '\n'.join(results['commands']) + '\n')
    plot_results(results, osp.join(out_dir, 'results.png'))
    return results


def claim_summary(results: Dict[str, Any]) -> str:
    """SNIPER's claim checked against the measurements, in words (one line per part).

    Against the full pyramid (when that arm ran): AP within about a point, at a fraction of
    the pixels and time; against single-scale training (when it ran): AP and APs.
    """
    a = results['arms']
    if 'sniper' not in a or len(a) < 2:
        return ''

    def ap(arm: str, key: str) -> float:
        return a[arm]['pyramid_eval']['metrics'].get(key, float('nan'))

    lines = []
    if 'pyramid' in a:
        d = ap('sniper', 'AP') - ap('pyramid', 'AP')
        lines.append(f'- AP, SNIPER - full pyramid: {d:+.1f} points '
                     f'({"within" if abs(d) <= 1.0 else "outside"} 1 point'
                     f'{"" if d < 1.0 else "; SNIPER higher"})')
        rp = a['sniper']['train_mpix_total'] / max(a['pyramid']['train_mpix_total'], 1e-9)
        rpe = a['sniper']['mpix_per_image_epoch'] / a['pyramid']['mpix_per_image_epoch']
        lines.append(f'- training pixels, SNIPER / full pyramid: {rp:.2f}x (per image and '
                     f'epoch: {rpe:.2f}x)')
        if a['sniper'].get('train_seconds') and a['pyramid'].get('train_seconds'):
            rt = a['sniper']['train_seconds'] / a['pyramid']['train_seconds']
            lines.append(f'- training time (wall clock), SNIPER / full pyramid: {rt:.2f}x')
        if a['sniper'].get('sec_per_iter') and a['pyramid'].get('sec_per_iter'):
            ri = a['sniper']['sec_per_iter'] / a['pyramid']['sec_per_iter']
            lines.append(f'- median seconds per iteration, SNIPER / full pyramid: {ri:.2f}x')
        images = results.get('pixels', {}).get('images', 0)
        es, ep = epoch_minutes(a['sniper'], images), epoch_minutes(a['pyramid'], images)
        if es and ep:
            lines.append(f'- time per epoch (estimated from s / iter), SNIPER / full pyramid: '
                         f'{es / ep:.2f}x')
    if 'single_scale' in a:
        if 'pyramid' not in a:
            d = ap('sniper', 'AP') - ap('single_scale', 'AP')
            lines.append(f'- AP, SNIPER - single-scale: {d:+.1f} points'
                         + ('' if d > 0 else ' (SNIPER does not help here)'))
        ds = ap('sniper', 'APs') - ap('single_scale', 'APs')
        lines.append(f'- APs, SNIPER - single-scale: {ds:+.1f} points')
    return '\n'.join(lines)


def results_markdown(results: Dict[str, Any]) -> str:
    """``results.md``, as the tool also prints it: the table, the claim checked in words and,
    with single-scale evaluations, the single-scale-against-pyramid table."""
    text = results['table'] + '\n\n' + claim_summary(results)
    inference = inference_table(results)
    if inference:
        text += ('\n\nThe same checkpoints at the single test scale and with the pyramid:\n\n'
                 + inference)
    return text


def _options_dict(cfg_options: Sequence[str]) -> Optional[dict]:
    """``['a.b=1', ...]`` -> ``{'a.b': 1}`` the way ``--cfg-options`` parses them."""
    if not cfg_options:
        return None
    from mmengine.config import DictAction

    out: dict = {}
    for opt in cfg_options:
        key, val = opt.split('=', 1)
        out[key] = DictAction._parse_iterable(val)
    return out
