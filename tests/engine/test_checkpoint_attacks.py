"""Issue #28's attacks, each through what a user runs: none runs code, deletes or writes
outside the work directory, or crashes; each small hostile file is refused within 10 s and
256 MB above the process's start (measured in a subprocess under RLIMIT_AS).

The files are data only (see ``hostile_checkpoints.py``): config text that mmengine
executed, run state it acted on, and structures that turned the old allow-list against the
loader (void dtypes: segfaults; ``bytearray(N)``, inflated zip records: memory;
memo-shared keys: hangs).
"""
from __future__ import annotations

import copy
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from hostile_checkpoints import (
    bytearray_bomb,
    config_text,
    deep_lists,
    dtype_state,
    gadget,
    nested_keys,
    oversized_view,
    pickled_data_file,
    shared_lists,
    system_pickle,
    void_dtype,
    zip_bomb,
)

from conftest import _ENV, FAST, FAST_TRAIN, REPO, tool

TINY = osp.join(REPO, 'configs', 'scaleshapes', 'faster_r18_scaleshapes.py')
RPN = osp.join(REPO, 'configs', 'scaleshapes', 'sniper_rpn_r18_scaleshapes.py')


pytest_plugins = ['hostile_checkpoints']  # its fixtures: http_root, torch_home

# Loads each file given on the command line the way mmengine does (after import mmsniper),
# under an address-space limit of 256 MB above the start and a 10 s alarm per file.
_MEASURE = r'''
import json, resource, signal, sys, time
import mmengine, mmsniper
from mmengine.runner.checkpoint import _load_checkpoint
from mmsniper.engine.safe_pickle import UnsafeCheckpointError
with open('/proc/self/status') as f:
    vm = next(int(l.split()[1]) * 1024 for l in f if l.startswith('VmSize'))
resource.setrlimit(resource.RLIMIT_AS, (vm + 256 * 2 ** 20,) * 2)
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = {}
for path in sys.argv[1:]:
    t = time.perf_counter()
    signal.alarm(10)  # the default action ends the process: a hang cannot pass
    try:
        (mmengine.load if path.endswith('.pkl') else _load_checkpoint)(path)
        result = 'loaded'
    except UnsafeCheckpointError as e:
        result = str(e)
    except MemoryError:
        result = 'MemoryError'
    signal.alarm(0)
    out[path] = [result, time.perf_counter() - t,
                 (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024]
print(json.dumps(out))
'''


def test_hostile_files_are_refused_fast_and_small(tmp_path):
    marker = str(tmp_path / 'ran')
    d = str(tmp_path)
    expected = {  # file -> what its refusal must name
        system_pickle(f'{d}/system.pth', marker): 'posix.system',
        gadget(f'{d}/gadget.pth', marker): 'getattr',
        void_dtype(f'{d}/void.pth'): "'V8'",
        dtype_state(f'{d}/dtype_state.pth'): 'state',
        bytearray_bomb(f'{d}/bytearray.pth'): 'builtins.bytearray',
        nested_keys(f'{d}/nested_keys.pth'): 'memo-shared',
        shared_lists(f'{d}/shared_lists.pth'): 'memo-shared',
        deep_lists(f'{d}/deep.pth'): 'nested more than 100',
        oversized_view(f'{d}/view.pth'): 'storage of 1 elements',
        zip_bomb(f'{d}/zip.pth', declared=2 ** 28): 'declaring 268435456 bytes',
        pickled_data_file(f'{d}/ann.pkl', marker): 'COCO JSON',
    }
    for path in expected:
        assert os.path.getsize(path) < 1.1 * 2 ** 20, path   # small files, all of them
    proc = subprocess.run([sys.executable, '-c', _MEASURE, *expected], capture_output=True,
                          text=True, env=_ENV, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads(proc.stdout.splitlines()[-1])
    for path, what in expected.items():
        message, seconds, peak_mb = results[path]
        assert 'refused' in message and path in message and what in message, (path, message)
        assert seconds < 10 and peak_mb < 256, (path, seconds, peak_mb)
    assert not osp.exists(marker)


def test_resumed_run_state_keeps_only_what_resuming_needs(tmp_path):
    from mmengine.logging import HistoryBuffer

    import mmsniper  # noqa: F401
    from mmsniper.engine.safe_pickle import UnsafeCheckpointError
    from mmsniper.engine.untrusted_state import clean_resumed_checkpoint

    wd = tmp_path / 'work'
    wd.mkdir()
    info = {'cfg': 'import os', 'iter': 4, 'epoch': 0, 'best_score': 0.5,
            'best_ckpt': str(wd / 'best_coco_iter_4.pth'), 'best_ckpt_coco/x': '/etc/passwd',
            'last_ckpt': str(wd), 'keep_ckpt_ids': [2, 3], 'dataset_meta': {'classes': ()},
            'loop_stage': 'rm -rf', 'seed': 2 ** 40}
    ck = {'meta': {'epoch': 0, 'iter': 4, 'config': 'import os', 'seed': 'x'},
          'message_hub': {'log_scalars': {'loss': HistoryBuffer(), 3: HistoryBuffer()},
                          'runtime_info': info,
                          'resumed_keys': {'loss': True, **{k: True for k in info}}}}
    own = clean_resumed_checkpoint(copy.deepcopy(ck), str(wd / 'iter_4.pth'), str(wd))
    assert own['message_hub']['runtime_info'] == {
        'iter': 4, 'epoch': 0, 'best_score': 0.5, 'best_ckpt': str(wd / 'best_coco_iter_4.pth'),
        'keep_ckpt_ids': [2, 3]}
    assert set(own['message_hub']['resumed_keys']) == {
        'iter', 'epoch', 'best_score', 'best_ckpt', 'keep_ckpt_ids', 'loss'}
    assert list(own['message_hub']['log_scalars']) == ['loss']
    assert own['meta'] == {'epoch': 0, 'iter': 4}
    # the same file from outside the work dir: its checkpoint ids name another run's files
    foreign = clean_resumed_checkpoint(copy.deepcopy(ck), str(tmp_path / 'x.pth'), str(wd))
    assert 'keep_ckpt_ids' not in foreign['message_hub']['runtime_info']
    with pytest.raises(UnsafeCheckpointError, match='cannot be resumed'):
        clean_resumed_checkpoint({'meta': {'epoch': '1', 'iter': 0}}, 'f.pth', str(wd))


def test_inferencer_given_weights_only_asks_for_the_config(tmp_path):
    from mmdet.apis import DetInferencer

    import mmsniper  # noqa: F401
    from mmsniper.engine.untrusted_state import ConfigRequiredError

    marker = str(tmp_path / 'ran')
    weights = config_text(str(tmp_path / 'w.pth'), marker, iteration=1)
    with pytest.raises(ConfigRequiredError, match='Pass the config file'):
        DetInferencer(model=None, weights=weights, device='cpu', show_progress=False)
    assert not osp.exists(marker)


def test_pickled_data_files_run_no_code(tmp_path):
    import mmengine
    from mmdet.registry import DATASETS
    from mmengine.structures import InstanceData

    import mmsniper  # noqa: F401
    from mmsniper.engine.safe_pickle import UnsafeCheckpointError

    marker = str(tmp_path / 'ran')
    evil = pickled_data_file(str(tmp_path / 'ann.pkl'), marker)
    for load in (lambda: mmengine.load(evil),                     # any loader
                 lambda: DATASETS.build(dict(type='BaseDetDataset', ann_file=evil,
                                             pipeline=[]))):      # a config's ann_file
        with pytest.raises(UnsafeCheckpointError) as err:
            load()
        msg = str(err.value)
        assert evil in msg and 'posix.system' in msg and 'COCO JSON' in msg and '.npz' in msg
    assert not osp.exists(marker)
    # genuine files load: an mmengine annotation file, MMDetection's dumped proposals
    ann = {'metainfo': {'classes': ('a',)}, 'data_list': [
        {'img_path': 'a.jpg', 'instances': [{'bbox': [0, 0, 1, 1], 'bbox_label': 0}]}]}
    mmengine.dump(ann, str(tmp_path / 'ok.pkl'))
    assert mmengine.load(str(tmp_path / 'ok.pkl')) == ann
    inst = InstanceData(bboxes=np.zeros((3, 4), np.float32), scores=np.ones(3, np.float32))
    mmengine.dump({'val/a.jpg': inst}, str(tmp_path / 'proposals.pkl'))
    back = mmengine.load(str(tmp_path / 'proposals.pkl'))['val/a.jpg']
    assert isinstance(back, InstanceData) and np.array_equal(back.bboxes, inst.bboxes)


def test_cache_entries_are_keyed_by_source(tmp_path, http_root, torch_home, monkeypatch):
    from mmengine.runner.checkpoint import _load_checkpoint

    import mmsniper  # noqa: F401
    from mmsniper.engine import checkpoint as safe

    folder, url = http_root
    # An attacker's file served under torchvision's official file names.
    for name in ('resnet50-0676ba61.pth', 'mobilenet_v2-b0353104.pth'):
        torch.save({'state_dict': {'attacker': torch.ones(1)}}, osp.join(folder, name))
        assert 'attacker' in _load_checkpoint(f'{url}/{name}')['state_dict']  # that URL: its file
    tried = []

    def offline(u, path, progress):
        tried.append((u, path))
        raise safe.WeightsUnavailableError(f'offline: {path}')

    monkeypatch.setattr(safe, '_download', offline)
    with pytest.raises(safe.WeightsUnavailableError):
        _load_checkpoint('torchvision://resnet50')   # not the attacker's cached file
    assert tried == [('https://download.pytorch.org/models/resnet50-0676ba61.pth',
                      osp.join(torch_home, 'hub', 'checkpoints', 'resnet50-0676ba61.pth'))]
    # The packaged MobileNetV2 answers its official URL and torchvision:// name only.
    packaged = safe.offline_weights_path('mobilenet_v2-b0353104.pth')
    assert packaged is not None
    weights = _load_checkpoint('torchvision://mobilenet_v2')
    assert 'attacker' not in weights and set(weights) == set(safe.safe_load(packaged))
    assert safe.offline_weights_path(f'{url}/mobilenet_v2-b0353104.pth') is None
    # The model zoos' https files keep torch's entries (offline copies go there); the same
    # path over plain http, or another host, gets its own.
    cache = osp.join(torch_home, 'hub', 'checkpoints')
    zoo = 'download.openmmlab.com/mmdetection/v3.0/rtmdet/x/cspnext-s_imagenet_600e.pth'
    assert safe.hub_cache_path(f'https://{zoo}') == osp.join(cache, 'cspnext-s_imagenet_600e.pth')
    for other in (f'http://{zoo}', f'https://evil.example/{zoo}', f'https://{zoo}?x=1'):
        assert osp.dirname(safe.hub_cache_path(other)) == osp.join(cache, 'by-url'), other


# -- through the tools -----------------------------------------------------------------------
def _run(args, cwd, env=None):
    return subprocess.run(args, cwd=cwd, env=env or _ENV, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_train_resume_runs_no_checkpoint_text_and_touches_nothing_outside(tmp_path, workdir):
    """tools/train.py --resume FILE: config text in meta and runtime_info, best_ckpt naming a
    folder outside the work dir, keep_ckpt_ids naming the user's checkpoints; save_best
    set, one iteration and one validation run."""
    import mmsniper  # noqa: F401
    from mmsniper.engine.checkpoint import safe_load

    wd = tmp_path / 'work'
    wd.mkdir()
    (wd / 'iter_1.pth').write_bytes(b'the user\'s own checkpoint')
    victim = tmp_path / 'victim'
    victim.mkdir()
    (victim / 'precious.txt').write_text('x')
    marker = str(tmp_path / 'ran')
    (tmp_path / 'downloads').mkdir()
    evil = config_text(str(tmp_path / 'downloads' / 'evil.pth'), marker, iteration=1,
                       victim=str(victim), keep_ids=[1])
    proc = _run(tool('train.py') + [
        TINY, '--work-dir', str(wd), '--resume', evil, '--cfg-options', *FAST,
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=1', 'default_hooks.checkpoint.max_keep_ckpts=1',
        'default_hooks.checkpoint.save_best=coco/bbox_mAP',
        'default_hooks.checkpoint.rule=greater'], workdir)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert 'resumed epoch: 0, iter: 1' in out and 'is not a file inside the work directory' in out
    assert not osp.exists(marker)                                     # no text executed
    assert (victim / 'precious.txt').is_file()                        # nothing removed outside
    assert (wd / 'iter_1.pth').read_bytes() == b'the user\'s own checkpoint'
    saved = safe_load(str(wd / 'iter_2.pth'))                         # this project's checkpoint
    info = saved['message_hub']['runtime_info']
    payload = "__import__('os')"
    assert payload not in info['cfg'] and 'scaleshapes' in info['cfg']  # it did not spread
    assert payload not in saved['meta']['cfg']
    assert info['best_ckpt'].startswith(str(wd))


@pytest.mark.slow
def test_tools_refuse_hostile_files(tmp_path, workdir, http_root):
    folder, url = http_root
    env = dict(_ENV, TORCH_HOME=str(tmp_path / 'torch_home'))
    marker = str(tmp_path / 'ran')
    config_text(osp.join(folder, 'resume.pth'), marker, iteration=1)
    bytearray_bomb(osp.join(folder, 'bomb.pth'))
    local = {n: f(str(tmp_path / f'{n}.pth')) for n, f in
             (('void', void_dtype), ('keys', nested_keys))}
    proposals = pickled_data_file(str(tmp_path / 'proposals.pkl'), marker)
    wd = str(tmp_path / 'work')
    cases = {  # what -> (args, expected in the output)
        'load_from=http + resume=True': (tool('train.py') + [
            TINY, '--work-dir', wd, '--cfg-options', *FAST_TRAIN, 'train_cfg.max_iters=1',
            f'load_from={url}/resume.pth', 'resume=True'], 'resumed epoch: 0, iter: 1'),
        'tools/test.py (void dtype)': (tool('test.py') + [
            TINY, local['void'], '--work-dir', wd, '--cfg-options', *FAST], "'V8'"),
        'tools/test.py (proposal_file .pkl)': (tool('test.py') + [
            TINY, local['void'], '--work-dir', wd, '--cfg-options', *FAST,
            f'test_dataloader.dataset.proposal_file={proposals}'], 'COCO JSON'),
        'tools/infer.py (http, bytearray)': (tool('infer.py') + [
            TINY, f'{url}/bomb.pth', folder, '--out', str(tmp_path / 'infer')],
            'builtins.bytearray'),
        'tools/extract_proposals.py (memo-shared keys)': (tool('extract_proposals.py') + [
            RPN, local['keys'], '--out', str(tmp_path / 'p.npz')], 'memo-shared'),
    }
    for what, (args, expected) in cases.items():
        proc = _run(args, workdir, env)
        out = proc.stdout + proc.stderr
        assert proc.returncode in (0, 1), (what, proc.returncode, out[-3000:])  # no signal
        assert expected in out, (what, out[-3000:])
        if what.startswith('load_from'):
            assert proc.returncode == 0, out[-3000:]
        else:
            assert proc.returncode == 1 and 'refused' in out, (what, out[-3000:])
        assert not osp.exists(marker), what
