"""Fault injection: kill a training with SIGTERM / SIGKILL at chosen iterations, resume it
each time, and compare it with an uninterrupted run chip by chip and weight by weight.

Behind ``tools/analysis_tools/kill_resume.py`` (and ``tests/engine/test_fault_tolerance.py``).
Every run is the real ``tools/train.py`` in its own process, with a
:class:`~mmsniper.engine.TicketLogHook` recording each trained chip's ticket per iteration:

1. the reference: ``iters`` iterations, uninterrupted;
2. the chain: a run started from scratch; at each kill, the driver waits until the run
   has started the kill's iteration (its tickets are logged), waits a random fraction of
   ``max_delay`` seconds (so kills also land in forward passes and checkpoint saves) and
   sends the signal; then ``tools/train.py --resume`` continues from the work directory;
   after the last kill it runs to the end.

It reports, per kill, the iteration the run had reached, its exit status (75 expected
after SIGTERM), the iteration the next run resumed from, the iterations lost (SIGTERM: 0;
SIGKILL: at most the checkpoint interval) and whether every iteration the resumed run
trained saw the reference's chips; at the end, whether the final checkpoint's weights and
optimizer state equal the reference's bit for bit.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from typing import Any, Dict, List, Optional, Sequence, Tuple

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(REPO, 'configs', 'scaleshapes', 'sniper_faster_r18_scaleshapes.py')
#: tiny, deterministic CPU runs: no workers, no validation, a log line per iteration
FAST = ['train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
        'train_cfg.val_begin=1000000', 'default_hooks.logger.interval=1']


def _tickets(path: str) -> Dict[int, List[dict]]:
    by_iter: Dict[int, List[dict]] = defaultdict(list)
    if osp.isfile(path):
        with open(path) as f:
            for line in f:
                if line.endswith('\n'):
                    row = json.loads(line)
                    by_iter[row.pop('iter')].append(row)
    return dict(by_iter)


def _config(config: str, folder: str, data_root: Optional[str]) -> str:
    """``config`` plus the TicketLogHook (its own custom hooks kept), and the data root."""
    from mmengine.config import Config

    base = Config.fromfile(config)
    hooks = [dict(h) for h in base.get('custom_hooks', [])] + [
        dict(type='TicketLogHook', path=osp.join(folder, 'tickets.jsonl'))]
    text = f'_base_ = [{config!r}]\ncustom_hooks = {hooks!r}\n'
    if data_root:
        ann = osp.join(data_root, 'annotations', 'val.json')
        text += (f'train_dataloader = dict(dataset=dict(dataset=dict(data_root={data_root!r})))\n'
                 f'val_dataloader = dict(dataset=dict(data_root={data_root!r}))\n'
                 'test_dataloader = val_dataloader\n'
                 f'val_evaluator = dict(ann_file={ann!r})\n'
                 'test_evaluator = val_evaluator\n')
    path = osp.join(folder, 'kill_resume_config.py')
    os.makedirs(folder, exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)
    return path


def _state(path: str) -> Dict[str, Any]:
    from mmsniper.engine.checkpoint import safe_load

    ckpt = safe_load(path, map_location='cpu')
    return dict(state_dict=ckpt['state_dict'], optimizer=ckpt.get('optimizer'))


def _equal(a: Any, b: Any) -> Tuple[bool, float]:
    """Bit-exact comparison of nested tensors / containers; and the largest difference."""
    import torch

    if torch.is_tensor(a) and torch.is_tensor(b):
        if a.shape != b.shape or a.dtype != b.dtype:
            return False, float('inf')
        same = torch.equal(a, b)
        diff = 0.0 if same or not a.is_floating_point() else float((a - b).abs().max())
        return same, diff if not same else 0.0
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return False, float('inf')
        res = [_equal(a[k], b[k]) for k in a]
    elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return False, float('inf')
        res = [_equal(x, y) for x, y in zip(a, b)]
    else:
        return a == b, 0.0 if a == b else float('inf')
    return all(r[0] for r in res), max([r[1] for r in res], default=0.0)


class _Run:
    def __init__(self, cmd: List[str], env: dict, out: str) -> None:
        self.out_path = out
        self.out = open(out, 'a')
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.out, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.out.close()

    def tail(self) -> str:
        with open(self.out_path) as f:
            return f.read()[-4000:]


def kill_resume(work_dir: str, iters: int = 40, interval: int = 4,
                kills: Sequence[Tuple[str, int]] = (), config: str = DEFAULT_CONFIG,
                data_root: Optional[str] = None, seed: int = 0, batch_size: int = 2,
                images: Optional[Sequence[int]] = None, max_delay: float = 1.0,
                rng_seed: int = 0, cfg_options: Sequence[str] = (), timeout: float = 900,
                before_resume=None, echo=print) -> Dict[str, Any]:
    """Run the reference and the killed-and-resumed chain; return the report.

    Args:
        work_dir (str): folder for both runs (``reference/``, ``chain/``).
        iters (int): training iterations.
        interval (int): checkpoint interval (SIGKILL loses at most this many).
        kills (Sequence[tuple[str, int]]): ``(signal name, iteration)``, iterations
            increasing (``'SIGTERM'`` / ``'SIGKILL'`` / ``'SIGUSR1'``).
        config (str): training config (default: the tiny SNIPER ScaleShapes one).
        data_root (str, optional): ScaleShapes root for the config's data.
        seed (int): ``randomness.seed``.
        batch_size (int): chips per batch.
        images (Sequence[int], optional): train on these dataset indices only.
        max_delay (float): the signal is sent up to this many seconds (uniform) after the
            kill's iteration started.
        rng_seed (int): seed of those delays.
        cfg_options (Sequence[str]): more ``--cfg-options``.
        timeout (float): seconds per run.
        before_resume (callable, optional): ``before_resume(kill_index, chain_work_dir)``
            runs before each resume (tests tear checkpoints there).
        echo (callable): progress lines.

    Returns:
        dict: ``kills`` (one record per kill), ``weights_equal``, ``optimizer_equal``,
        ``max_weight_diff``, ``chips_equal``, ``commands``.
    """
    work_dir = osp.abspath(work_dir)
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONUNBUFFERED='1',
               PYTHONWARNINGS='ignore')
    opts = list(FAST) + [f'train_cfg.max_iters={iters}', f'randomness.seed={seed}',
                         f'default_hooks.checkpoint.interval={interval}',
                         f'train_dataloader.batch_size={batch_size}', *cfg_options]
    if images is not None:
        opts.append(f'train_dataloader.dataset.dataset.indices={list(images)}')
    train = [sys.executable, osp.join(REPO, 'tools', 'train.py')]
    commands: List[str] = []
    delays = random.Random(rng_seed)

    def start(folder: str, resume: bool) -> _Run:
        cfg = _config(config, folder, data_root)
        cmd = train + [cfg, '--work-dir', folder, '--cfg-options', *opts]
        if resume:
            cmd.append('--resume')
        commands.append(' '.join(cmd))
        return _Run(cmd, env, osp.join(folder, 'train.out'))

    # 1. the reference
    ref_dir = osp.join(work_dir, 'reference')
    t0 = time.time()
    run = start(ref_dir, False)
    rc = run.wait(timeout)
    if rc != 0:
        raise RuntimeError(f'reference run failed ({rc}):\n{run.tail()}')
    echo(f'reference: {iters} iterations in {time.time() - t0:.0f} s')
    reference = _tickets(osp.join(ref_dir, 'tickets.jsonl'))

    # 2. the chain
    chain = osp.join(work_dir, 'chain')
    log = osp.join(chain, 'tickets.jsonl')
    records: List[Dict[str, Any]] = []
    segments: List[Dict[int, List[dict]]] = []
    resume = False
    for k, (sig_name, target) in enumerate(list(kills) + [(None, None)]):
        if resume and before_resume is not None:
            before_resume(k - 1, chain)
        if osp.isfile(log):
            os.remove(log)
        run = start(chain, resume)
        if sig_name is None:
            rc = run.wait(timeout)
            segments.append(_tickets(log))
            if rc != 0:
                raise RuntimeError(f'final resumed run failed ({rc}):\n{run.tail()}')
            break
        deadline = time.time() + timeout
        while max(_tickets(log) or [0]) < target:
            if run.proc.poll() is not None:
                raise RuntimeError(f'run ended before iteration {target} ({run.proc.returncode})'
                                   f':\n{run.tail()}')
            if time.time() > deadline:
                run.proc.kill()
                raise RuntimeError(f'run did not reach iteration {target}:\n{run.tail()}')
            time.sleep(0.05)
        delay = delays.uniform(0, max_delay)
        time.sleep(delay)
        run.proc.send_signal(getattr(signal, sig_name))
        rc = run.wait(timeout)
        seg = _tickets(log)
        segments.append(seg)
        records.append(dict(signal=sig_name, target=target, delay_s=round(delay, 3),
                            reached=max(seg or [0]), status=rc))
        resume = True
        echo(f'kill {k + 1}/{len(kills)}: {sig_name} at iteration {max(seg or [0])} '
             f'(+{delay:.2f} s): exit status {rc}')

    # 3. compare: where each resume started, what was lost, chips per iteration
    chips_equal = True
    for k, rec in enumerate(records):
        nxt = segments[k + 1]
        resumed_from = min(nxt) - 1 if nxt else None
        rec['resumed_from'] = resumed_from
        if resumed_from is not None:
            finished = rec['reached'] if rec['signal'] != 'SIGKILL' else rec['reached'] - 1
            rec['lost'] = max(0, finished - resumed_from)
        mismatched = [i for i, chips in nxt.items() if reference.get(i) != chips]
        rec['chips_equal'] = not mismatched
        rec['mismatched_iters'] = mismatched[:10]
        chips_equal &= not mismatched
    first = segments[0]
    chips_equal &= all(reference.get(i) == c for i, c in first.items())
    last_ckpt = osp.join(chain, f'iter_{iters}.pth')
    ref_ckpt = osp.join(ref_dir, f'iter_{iters}.pth')
    a, b = _state(ref_ckpt), _state(last_ckpt)
    w_eq, w_diff = _equal(a['state_dict'], b['state_dict'])
    o_eq, _ = _equal(a['optimizer'], b['optimizer'])
    return dict(kills=records, weights_equal=w_eq, max_weight_diff=w_diff,
                optimizer_equal=o_eq, chips_equal=chips_equal,
                iterations_trained=sum(len(s) for s in segments), commands=commands)


def plan_kills(n: int, iters: int, interval: int, seed: int = 0) -> List[Tuple[str, int]]:
    """``n`` kills at increasing random iterations in ``[1, iters - 1]``, half SIGTERM and
    half SIGKILL in random order. After a SIGKILL the run redoes up to ``interval``
    iterations, so a later kill may target an iteration the chain reaches again."""
    rng = random.Random(seed)
    kinds = ['SIGTERM'] * (n - n // 2) + ['SIGKILL'] * (n // 2)
    rng.shuffle(kinds)
    its = sorted(rng.sample(range(1, iters), n)) if n < iters else list(range(1, n + 1))
    return list(zip(kinds, its))
