"""Resume end to end: a SNIPER training (ChipSampler + ChipSamplerHook), resumed in a new
process from a checkpoint, trains on exactly the chips of the uninterrupted run with the
same seed, across sampler epochs."""
from __future__ import annotations

import json
import os
import os.path as osp
import signal
import subprocess
import time
from collections import defaultdict

import pytest

from conftest import _ENV, FAST_TRAIN, REPO, run_tool, tool

SNIPER_TINY = osp.join(REPO, 'configs', 'scaleshapes', 'sniper_faster_r18_scaleshapes.py')

# A test-only hook: logs the chip of every sample the model trains on (before the
# iteration), and on request stalls after a given iteration (its checkpoint written:
# CheckpointHook runs before this LOWEST-priority hook) until it is killed.
CHIPLOG_HOOK = '''
import json, os, os.path as osp, time
from mmengine.hooks import Hook
from mmdet.registry import HOOKS


@HOOKS.register_module()
class ChipLogHook(Hook):
    priority = 'LOWEST'

    def __init__(self):
        self.path = os.environ['CHIPLOG']
        self.stall_at = int(os.environ.get('CHIPLOG_STALL_AT', 0))

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        with open(self.path, 'a') as f:
            for ds in data_batch['data_samples']:
                m = ds.metainfo
                f.write(json.dumps(dict(iter=runner.iter + 1, img=osp.basename(m['img_path']),
                                        level=m['chip_level'], kind=m['chip_kind'],
                                        box=list(m['chip']))) + '\\n')

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self.stall_at and runner.iter + 1 == self.stall_at:
            open(self.path + '.stalled', 'w').close()
            time.sleep(3600)
'''

# One image of 2 chips an epoch at batch 1: the resume point K lies in the second sampler
# epoch (not at its start) and the resumed run rolls over into the third.
K, N = 3, 5
IMAGE = 7  # the 1803 x 1352 image of the tiny set: 2 positive chips per epoch


def tickets(path: str) -> dict:
    by_iter = defaultdict(list)
    with open(path) as f:
        for line in f:
            row = json.loads(line)
            by_iter[row.pop('iter')].append(row)
    return dict(by_iter)


@pytest.mark.slow
def test_killed_sniper_training_resumes_with_the_same_chips(workdir):
    from mmengine.config import Config

    hooks = osp.join(workdir, 'hooks')
    os.makedirs(hooks)
    with open(osp.join(hooks, 'chiplog.py'), 'w') as f:
        f.write(CHIPLOG_HOOK)
    # the SNIPER config plus the logging hook (its own hooks kept)
    cfg = osp.join(workdir, 'sniper_chiplog.py')
    base_hooks = Config.fromfile(SNIPER_TINY).get('custom_hooks', [])
    with open(cfg, 'w') as f:
        f.write(f'_base_ = [{SNIPER_TINY!r}]\n'
                "custom_imports = dict(imports=['mmsniper', 'chiplog'], "
                'allow_failed_imports=False)\n'
                f"custom_hooks = {[dict(h) for h in base_hooks] + [dict(type='ChipLogHook')]!r}\n")
    common = ['--cfg-options', *FAST_TRAIN, 'train_dataloader.batch_size=1',
              f'train_dataloader.dataset.dataset.indices=[{IMAGE}]',
              f'train_cfg.max_iters={N}', f'default_hooks.checkpoint.interval={K}']
    # one thread: these runs are tiny, and two OpenMP threads on a busy 2-core machine
    # spin-wait (6 s an iteration instead of 0.5 s)
    env = dict(_ENV, PYTHONPATH=hooks, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')

    # Run A: uninterrupted, N iterations, seed 7, a checkpoint at K; then killed with SIGKILL
    # (it stalls after iteration N): it never ends cleanly, nothing of it runs at exit.
    wd_a = osp.join(workdir, 'a')
    log_a = osp.join(workdir, 'a.jsonl')
    with open(osp.join(workdir, 'a.out'), 'w') as out:
        proc = subprocess.Popen(tool('train.py') + [cfg, '--work-dir', wd_a, *common,
                                                   'randomness.seed=7'],
                                cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
                                env=dict(env, CHIPLOG=log_a, CHIPLOG_STALL_AT=str(N)))
        try:
            deadline = time.time() + 600
            while not osp.exists(log_a + '.stalled'):
                assert proc.poll() is None, 'run A ended early:\n' + open(out.name).read()[-6000:]
                assert time.time() < deadline, 'run A did not reach its last iteration'
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    ckpt = osp.join(wd_a, f'iter_{K}.pth')
    assert osp.isfile(ckpt)

    # Run B: a new process resumes from the checkpoint at K; no seed given (it must take
    # the checkpoint's).
    log_b = osp.join(workdir, 'b.jsonl')
    res = run_tool(tool('train.py') + [cfg, '--work-dir', osp.join(workdir, 'b'), '--resume',
                                       ckpt, *common],
                   cwd=workdir, env=dict(env, CHIPLOG=log_b))
    text = res.stdout + res.stderr
    assert f'ChipSamplerHook: resuming at iteration {K}: epoch 1 of the chip plan' in text
    assert f'Iter(train) [{N}/{N}]' in text

    a, b = tickets(log_a), tickets(log_b)
    assert sorted(a) == list(range(1, N + 1))
    assert sorted(b) == list(range(K + 1, N + 1))  # no iteration trained twice
    for it in range(K + 1, N + 1):
        assert b[it] == a[it], f'iteration {it}: resumed {b[it]} != uninterrupted {a[it]}'
    # the check can fail: a resume that restarted the plan would show other chips
    assert [a[i] for i in range(K + 1, N + 1)] != [a[i] for i in range(1, N - K + 1)]
    assert [a[i] for i in range(K + 1, N + 1)] != [a[i] for i in range(2, N - K + 2)]
