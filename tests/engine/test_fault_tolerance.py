"""Training that survives the cluster: atomic files, torn checkpoints, preemption with an
exact resume, non-finite losses, a full disk, and the Slurm requeue script."""
from __future__ import annotations

import errno
import json
import logging
import os
import os.path as osp
import re
import subprocess
import warnings

import numpy as np
import pytest
import torch

from conftest import REPO

SNIPER_TINY = osp.join(REPO, 'configs', 'scaleshapes', 'sniper_faster_r18_scaleshapes.py')


# -- atomic files ----------------------------------------------------------------------------
def test_atomic_path_replaces_whole_files_or_nothing(tmp_path):
    from mmsniper.utils.fileio import atomic_path, atomic_write, remove_stale_temps

    path = str(tmp_path / 'a.json')
    atomic_write(path, '{"old": 1}')
    with pytest.raises(RuntimeError, match='mid-write'):
        with atomic_path(path) as tmp:
            with open(tmp, 'w') as f:
                f.write('{"new"')
            raise RuntimeError('mid-write')
    assert open(path).read() == '{"old": 1}'
    assert os.listdir(tmp_path) == ['a.json']  # the temporary file is gone
    atomic_write(path, b'{"new": 2}')
    assert open(path).read() == '{"new": 2}'
    # a killed writer's leftover (a pid that does not run) is removed, a live one's kept
    dead = tmp_path / '.tmp-999999999-iter_8.pth'
    live = tmp_path / f'.tmp-{os.getppid()}-iter_9.pth'
    dead.write_bytes(b'x')
    live.write_bytes(b'x')
    assert remove_stale_temps(str(tmp_path)) == [str(dead)]
    assert live.exists()


# -- torn checkpoints --------------------------------------------------------------------------
def _save(path: str, value: float) -> None:
    from mmengine.runner.checkpoint import save_checkpoint

    import mmsniper  # noqa: F401  (the atomic local backend)

    save_checkpoint(dict(meta=dict(iter=int(value)), state_dict=dict(w=torch.full((64, 64), value)),
                         rng=np.arange(10, dtype=np.uint32)), path)


@pytest.mark.parametrize('tear', ['head', 'middle', 'tail', 'empty'])
def test_torn_newest_checkpoint_falls_back(tmp_path, monkeypatch, tear):
    from mmsniper.engine import saving
    from mmsniper.engine.checkpoint import safe_load

    warned = []
    monkeypatch.setattr(saving, 'print_log', lambda msg, **kw: warned.append(msg))
    wd = str(tmp_path)
    good, torn = osp.join(wd, 'iter_2.pth'), osp.join(wd, 'iter_4.pth')
    _save(good, 2)
    _save(torn, 4)
    size = osp.getsize(torn)
    keep = dict(head=30, middle=size // 2, tail=size - 22, empty=0)[tear]
    with open(torn, 'r+b') as f:
        f.truncate(keep)
    os.utime(good, (1, 1))  # the torn one is the newest, and last_checkpoint names it
    with open(osp.join(wd, 'last_checkpoint'), 'w') as f:
        f.write(torn)
    chosen = saving.resume_checkpoint(wd)
    assert chosen == good
    assert safe_load(chosen)['meta']['iter'] == 2
    assert any(torn in w and ('torn' in w or 'empty' in w) for w in warned), warned
    # --resume PATH on the torn file: a clear error naming it
    with pytest.raises(saving.CheckpointLoadError, match='cannot resume from .*iter_4.pth'):
        saving.resume_checkpoint(wd, torn)
    # nothing readable: the error names every file tried
    with open(good, 'r+b') as f:
        f.truncate(100)
    with pytest.raises(saving.CheckpointLoadError) as err:
        saving.resume_checkpoint(wd)
    assert 'iter_4.pth' in str(err.value) and 'iter_2.pth' in str(err.value)


# -- preemption and exact resume ----------------------------------------------------------------
@pytest.mark.slow
def test_sigterm_then_resume_equals_the_uninterrupted_run(workdir):
    """SIGTERM during iteration 2 (the end of the first chip epoch): exit status 75 with a
    checkpoint of that iteration; a torn newer checkpoint planted before --resume is
    skipped; the resumed run trains the uninterrupted run's chips and ends with its
    weights and optimizer state bit for bit."""
    from mmsniper.analysis.kill_resume import kill_resume

    planted = {}

    def tear_newer(k, chain):  # a torn iter_<n+1>.pth that last_checkpoint names
        good = open(osp.join(chain, 'last_checkpoint')).read().strip()
        n = int(re.search(r'iter_(\d+)\.pth$', good).group(1))
        torn = osp.join(chain, f'iter_{n + 1}.pth')
        with open(good, 'rb') as f:
            data = f.read()
        with open(torn, 'wb') as f:
            f.write(data[:len(data) // 3])
        with open(osp.join(chain, 'last_checkpoint'), 'w') as f:
            f.write(torn)
        planted['torn'] = torn

    # one image of 2 chips per epoch at batch 1: the epoch rolls over after iteration 2
    rep = kill_resume(osp.join(workdir, 'kr'), iters=4, interval=100, kills=[('SIGTERM', 2)],
                      data_root=osp.join(workdir, 'data', 'scaleshapes'), batch_size=1,
                      images=[7], max_delay=0.0, before_resume=tear_newer, echo=lambda s: None)
    (k,) = rep['kills']
    assert k['status'] == 75, rep
    assert k['lost'] == 0 and k['resumed_from'] == k['reached'], rep
    assert k['chips_equal'] and rep['chips_equal'], rep
    assert rep['weights_equal'] and rep['optimizer_equal'], rep
    out = open(osp.join(workdir, 'kr', 'chain', 'train.out')).read()
    assert f'PreemptionHook: SIGTERM received; iteration {k["reached"]} finished' in out
    assert f'cannot resume from {planted["torn"]}: truncated or torn' in out


# -- non-finite losses ---------------------------------------------------------------------------
def _tiny_cfg(root: str, work_dir: str, images, iters: int, batch_size: int):
    from mmengine.config import Config

    cfg = Config.fromfile(SNIPER_TINY)
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=0)
    loader = cfg.train_dataloader
    loader.update(batch_size=batch_size, num_workers=0, persistent_workers=False)
    loader.dataset.dataset.update(data_root=root + '/', indices=list(images))
    cfg.train_cfg.update(max_iters=iters, val_interval=1000000)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.default_hooks.logger.interval = 1
    cfg.visualizer.name = f'vis_ft_{id(cfg)}'  # runners in one process
    return cfg


def _register_nan_transform():
    from mmcv.transforms import BaseTransform
    from mmdet.registry import TRANSFORMS

    class InjectNaNForTest(BaseTransform):
        """NaN pixels in the chip of one image file."""

        def __init__(self, image: str) -> None:
            self.image = image

        def transform(self, results: dict) -> dict:
            if osp.basename(results['img_path']) == self.image:
                img = results['img'].astype(np.float32)
                img[5:9, 5:9] = np.nan
                results['img'] = img
            return results

    TRANSFORMS.register_module(module=InjectNaNForTest, force=True)


def _with_nan(cfg, image: str):
    pipeline = cfg.train_dataloader.dataset.dataset.pipeline
    at = [i for i, t in enumerate(pipeline) if t['type'] == 'ChipGenerator'][0]
    pipeline.insert(at + 1, dict(type='InjectNaNForTest', image=image))
    return cfg


def _image_file(root: str, index: int) -> str:
    with open(osp.join(root, 'annotations', 'train.json')) as f:
        return json.load(f)['images'][index]['file_name']


@pytest.mark.slow
def test_nan_in_one_chip_stops_naming_its_image_and_ticket(workdir):
    from mmengine.registry import RUNNERS

    from mmsniper.datasets.chip_stats import build_sniper_dataset
    from mmsniper.engine import NonFiniteLossError
    from mmsniper.visualization.chips import browse_tickets

    _register_nan_transform()
    root = osp.join(workdir, 'data', 'scaleshapes')
    bad, good = _image_file(root, 7), _image_file(root, 0)
    wd = osp.join(workdir, 'nan')
    # every chip of the two images in one batch; the NaN is in image 7's
    cfg = _with_nan(_tiny_cfg(root, wd, [0, 7], iters=1, batch_size=8), bad)
    runner = RUNNERS.build(cfg)
    with pytest.raises(NonFiniteLossError) as err:
        runner.train()
    msg = str(err.value)
    assert msg.startswith('iteration 1: non-finite loss: loss_')
    lines = msg.splitlines()
    bad_lines = [line for line in lines if bad in line]
    assert bad_lines and all('ITS INPUT HOLDS NaN/inf' in line and 'chip (' in line
                             and 'valid range [' in line and 'scale' in line
                             for line in bad_lines), msg
    assert all('ITS INPUT' not in line for line in lines if good in line), msg
    # no step was taken with the NaN loss
    assert all(torch.isfinite(p).all() for p in runner.model.parameters())
    record = json.load(open(osp.join(wd, 'nonfinite_iter1.json')))
    poisoned = [t for t in record['tickets'] if t['img_path'].endswith(bad)]
    assert poisoned and all(t['input_finite'] is False and len(t['chip']) == 4
                            for t in poisoned)
    assert all(t['input_finite'] for t in record['tickets'] if t['img_path'].endswith(good))
    # browse_chips.py --tickets draws them
    ds = build_sniper_dataset(SNIPER_TINY, {'train_dataloader.dataset.dataset.data_root':
                                            root + '/'})
    pics = browse_tickets(ds, osp.join(wd, 'nonfinite_iter1.json'), osp.join(wd, 'pics'))
    assert len(pics) == len({t['img_id'] for t in record['tickets']})
    assert all(osp.getsize(p) > 0 for p in pics)


@pytest.mark.slow
def test_nan_batches_skipped_counted_then_stopped(workdir):
    from mmengine.registry import RUNNERS

    from mmsniper.engine import NonFiniteLossError

    _register_nan_transform()
    root = osp.join(workdir, 'data', 'scaleshapes')
    bad = _image_file(root, 7)
    wd = osp.join(workdir, 'skip')
    cfg = _with_nan(_tiny_cfg(root, wd, [7], iters=5, batch_size=1), bad)
    cfg.default_hooks.nonfinite_loss.update(skip=True, max_skips_in_row=2)
    runner = RUNNERS.build(cfg)
    with pytest.raises(NonFiniteLossError, match=r'3 batches in a row .*max_skips_in_row=2'):
        runner.train()
    (log_file,) = [h.baseFilename for h in runner.logger.handlers if hasattr(h, 'baseFilename')]
    log = open(log_file).read()
    assert 'skipped batch (1 in a row, 1 in total)' in log
    assert 'skipped batch (2 in a row, 2 in total)' in log
    assert runner.iter == 2
    assert all(torch.isfinite(p).all() for p in runner.model.parameters())


# -- a full disk ---------------------------------------------------------------------------------
def _mount_tmpfs(path: str, size: str) -> bool:
    os.makedirs(path, exist_ok=True)
    try:
        return subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs', path],
                              capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.slow
def test_full_disk_stops_clearly_and_keeps_the_previous_checkpoint(workdir, monkeypatch):
    from mmengine.hooks import Hook
    from mmengine.logging import MMLogger
    from mmengine.registry import RUNNERS

    from mmsniper.engine import CheckpointSaveError
    from mmsniper.engine.checkpoint import safe_load
    from mmsniper.engine.saving import resume_checkpoint
    from mmsniper.utils import fileio

    root = osp.join(workdir, 'data', 'scaleshapes')
    mnt = osp.join(workdir, 'small_disk')
    mounted = _mount_tmpfs(mnt, '256m')
    if not mounted:
        warnings.warn('tmpfs mount impossible here (not root?): ENOSPC is simulated at fsync',
                      stacklevel=1)

    class FillDisk(Hook):
        """After iteration 1 (and its checkpoint), the disk fills up."""
        priority = 'LOWEST'

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if runner.iter + 1 != 1:
                return
            if mounted:
                st = os.statvfs(mnt)
                with open(osp.join(mnt, 'filler'), 'wb') as f:
                    f.write(b'\0' * (st.f_bavail * st.f_frsize - 64 * 1024))
            else:
                def full(path, directory=False):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                monkeypatch.setattr(fileio, '_fsync_path', full)

    try:
        wd = osp.join(mnt, 'work')
        cfg = _tiny_cfg(root, wd, [7], iters=3, batch_size=1)
        cfg.default_hooks.checkpoint.update(interval=1, max_keep_ckpts=1)
        runner = RUNNERS.build(cfg)
        runner.register_hook(FillDisk())
        with pytest.raises(CheckpointSaveError) as err:
            runner.train()
        first = osp.join(wd, 'iter_1.pth')
        msg = str(err.value)
        assert f'could not save checkpoint {osp.join(wd, "iter_2.pth")} at iteration 2' in msg
        assert 'No space left on device' in msg
        assert f'the previous checkpoint {first} is intact' in msg
        assert open(osp.join(wd, 'last_checkpoint')).read() == first
        assert safe_load(first)['meta']['iter'] == 1
        assert resume_checkpoint(wd) == first
        assert not [n for n in os.listdir(wd) if n.startswith('.tmp-')]
        assert not osp.exists(osp.join(wd, 'iter_2.pth'))
    finally:
        # The run's logger outlives it (MMLogger keeps its instances, and the newest answers
        # get_current_instance() for every later model in this worker): close its files on
        # the small disk, or the next test's log lines hit ENOSPC.
        for logger in list(MMLogger._instance_dict.values()):
            for handler in list(logger.handlers):
                if isinstance(handler, logging.FileHandler) and \
                        handler.baseFilename.startswith(mnt + os.sep):
                    logger.removeHandler(handler)
                    handler.close()
        if mounted:
            subprocess.run(['umount', '-l', mnt], capture_output=True, timeout=20)


# -- the Slurm script ----------------------------------------------------------------------------
def test_slurm_train_asks_for_the_signal_and_requeues(tmp_path):
    stubs = tmp_path / 'bin'
    stubs.mkdir()
    calls = tmp_path / 'calls'
    # sbatch runs the batch script right away, as the job would; srun "trains" and exits 75
    (stubs / 'sbatch').write_text(
        '#!/bin/bash\necho "sbatch $*" >> "$CALLS"\n'
        'while [[ "$1" != *slurm_train.sh ]]; do shift; done\n'
        'MMSNIPER_SLURM_JOB=1 SLURM_JOB_ID=42 bash "$@"\n')
    (stubs / 'srun').write_text('#!/bin/bash\necho "srun $*" >> "$CALLS"\nexit $SRUN_STATUS\n')
    (stubs / 'scontrol').write_text('#!/bin/bash\necho "scontrol $*" >> "$CALLS"\n')
    for s in stubs.iterdir():
        s.chmod(0o755)
    env = dict(os.environ, PATH=f'{stubs}:{os.environ["PATH"]}', CALLS=str(calls),
               SRUN_STATUS='75', GPUS='2', GPUS_PER_NODE='2', SIGNAL_SECONDS='120')
    script = osp.join(REPO, 'tools', 'slurm_train.sh')
    wd = str(tmp_path / 'wd')
    res = subprocess.run(['bash', script, 'part', 'job', 'cfg.py', wd, '--amp'], env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 75, res.stderr
    log = calls.read_text().splitlines()
    assert log[0].startswith('sbatch ') and '--signal=USR1@120' in log[0] and '--requeue' in log[0]
    assert 'train.py cfg.py' in log[1] and '--amp' in log[1] and '--resume' not in log[1]
    assert log[2] == 'scontrol requeue 42'
    # the requeued job resumes; a finished one (status 0) is not requeued
    calls.unlink()
    res = subprocess.run(['bash', script, 'part', 'job', 'cfg.py', wd],
                         env=dict(env, SRUN_STATUS='0', MMSNIPER_SLURM_JOB='1',
                                  SLURM_JOB_ID='42', SLURM_RESTART_COUNT='1'),
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    log = calls.read_text().splitlines()
    assert len(log) == 1 and log[0].endswith('--resume')
