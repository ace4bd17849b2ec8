"""Checkpoints cannot run code: two payload families, every loading path, local and HTTP.

Family 1 is the classic ``os.system`` pickle. Family 2 uses only what mmengine's own
checkpoints need (``getattr`` for HistoryBuffer's statistics and ``HistoryBuffer`` itself):
``getattr(getattr, '__self__')`` reaches ``builtins``, ``exec`` is planted as the
``__reduce_ex__`` of a HistoryBuffer through its ``__setstate__``, and the deepcopy that
mmengine's ``MessageHub.load_state_dict`` makes calls it. The first test proves that family 2
is real (it runs under a ``weights_only`` allow-list with ``getattr``), so that the
refusals below are not refusals of something harmless.
"""
from __future__ import annotations

import copy
import copyreg
import os.path as osp

import numpy as np
import pytest
import torch
from hostile_checkpoints import gadget, system_pickle

from conftest import _ENV, REPO, tool

TINY = osp.join(REPO, 'configs', 'scaleshapes', 'faster_r18_scaleshapes.py')


pytest_plugins = ['hostile_checkpoints']  # its fixtures: http_root, torch_home


def write_payload(path: str, family: str, marker: str) -> str:
    """A checkpoint file that creates ``marker`` when its payload runs."""
    return (system_pickle if family == 'system' else gadget)(path, marker)


def test_getattr_gadget_is_real_under_the_old_allow_list(tmp_path):
    """What mmsniper allowed before: HistoryBuffer + getattr + numpy. The payload runs."""
    import codecs

    from mmengine.logging import HistoryBuffer

    marker = str(tmp_path / 'ran')
    path = write_payload(str(tmp_path / 'gadget.pth'), 'gadget', marker)
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    old = [HistoryBuffer, getattr, codecs.encode, np.ndarray, np.dtype,
           multiarray._reconstruct, multiarray.scalar,
           *[getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith('DType')]]
    with torch.serialization.safe_globals(old):
        ck = torch.load(path, weights_only=True)
    assert not osp.exists(marker)
    copy.deepcopy(ck['message_hub']['runtime_info'])  # what MessageHub.load_state_dict does
    assert osp.exists(marker)


@pytest.mark.parametrize('family', ['system', 'gadget'])
@pytest.mark.parametrize('source', ['local', 'http'])
def test_loader_refuses_payloads(tmp_path, http_root, torch_home, family, source):
    from mmengine.runner.checkpoint import _load_checkpoint

    import mmsniper  # noqa: F401
    from mmsniper.engine.checkpoint import UnsafeCheckpointError

    marker = str(tmp_path / 'ran')
    folder, url = http_root
    path = write_payload(osp.join(folder, f'{family}.pth'), family, marker)
    name = path if source == 'local' else f'{url}/{family}.pth'
    with pytest.raises(UnsafeCheckpointError, match='refused'):
        _load_checkpoint(name, map_location='cpu')
    assert not osp.exists(marker)


def test_every_mmengine_scheme_is_safe_and_keeps_its_name():
    from mmengine.runner.checkpoint import CheckpointLoader

    import mmsniper  # noqa: F401
    from mmsniper.engine import checkpoint as safe

    expected = {'/x/a.pth': 'load_from_local', 'http://h/a.pth': 'load_from_http',
                'https://h/a.pth': 'load_from_http', 'torchvision://resnet50':
                'load_from_torchvision', 'modelzoo://resnet50': 'load_from_torchvision',
                'open-mmlab://x': 'load_from_openmmlab', 'openmmlab://x': 'load_from_openmmlab',
                'mmcls://x': 'load_from_mmcls', 's3://b/a.pth': 'load_from_ceph',
                'petrel://b/a.pth': 'load_from_ceph', 'pavi://x': 'load_from_pavi'}
    for path, name in expected.items():
        loader = CheckpointLoader._get_checkpoint_loader(path)
        assert loader.__name__ == name, path          # mmengine logs "by <name[10:]> backend"
        assert loader.__module__ == safe.__name__, path
    assert set(CheckpointLoader._schemes.values()) <= set(safe._LOADERS.values())


def _mmengine_checkpoint(path: str) -> dict:
    """A checkpoint as mmengine 0.10.7's runner saves it (message hub with HistoryBuffers)."""
    from mmengine.logging import MessageHub

    hub = MessageHub.get_instance('security_test_hub')
    for v in (1.0, 0.5, 0.25):
        hub.update_scalar('train/loss', v)
    hub.update_info('iter', 3)
    hub.update_info('np_value', np.float64(2.5))
    ck = {'meta': {'epoch': 0, 'iter': 3, 'seed': 7, 'dataset_meta': {'classes': ('a', 'b')}},
          'state_dict': {'w': torch.arange(4.0)}, 'message_hub': hub.state_dict()}
    torch.save(ck, path)
    return ck


@pytest.mark.parametrize('source', ['local', 'http'])
def test_genuine_mmengine_checkpoint_round_trips(tmp_path, http_root, torch_home, source):
    from mmengine.logging import HistoryBuffer, MessageHub
    from mmengine.runner.checkpoint import _load_checkpoint

    import mmsniper  # noqa: F401

    folder, url = http_root
    path = osp.join(folder, 'genuine-0123abcd.pth')
    _mmengine_checkpoint(path)
    ck = _load_checkpoint(path if source == 'local' else f'{url}/genuine-0123abcd.pth',
                          map_location='cpu')
    buf = ck['message_hub']['log_scalars']['train/loss']
    assert type(buf) is HistoryBuffer                    # the genuine type, not a stand-in
    assert buf.current() == 0.25 and buf.mean() == pytest.approx(1.75 / 3)
    hub = MessageHub.get_instance('security_test_load')
    hub.load_state_dict(ck['message_hub'])               # the runner's resume path
    assert hub.get_info('iter') == 3 and hub.get_scalar('train/loss').min() == 0.25
    assert torch.equal(ck['state_dict']['w'], torch.arange(4.0))
    if source == 'http':  # downloaded into its own entry of the hub cache under TORCH_HOME
        from mmsniper.engine.checkpoint import hub_cache_path

        entry = hub_cache_path(f'{url}/genuine-0123abcd.pth')
        assert entry.startswith(osp.join(torch_home, 'hub', 'checkpoints', 'by-url', ''))
        assert osp.isfile(entry) and entry.endswith('-genuine-0123abcd.pth')


def test_history_buffer_with_foreign_state_is_refused(tmp_path):
    import mmsniper  # noqa: F401
    from mmsniper.engine.checkpoint import UnsafeCheckpointError, safe_load

    class Odd:
        __class__ = property(lambda self: __import__('mmengine').logging.HistoryBuffer)

        def __reduce__(self):
            from mmengine.logging import HistoryBuffer
            return (copyreg.__newobj__, (HistoryBuffer,),
                    {'max_length': 3, '_log_history': np.zeros(1), '_count_history': np.ones(1),
                     'extra': 'x'})

    torch.save({'b': Odd()}, tmp_path / 'odd.pth')
    with pytest.raises(UnsafeCheckpointError, match='extra'):
        safe_load(str(tmp_path / 'odd.pth'))


def test_mmdet2_and_mmdet3_zoo_checkpoints_load_from_https_url(tmp_path, http_root, torch_home):
    """load_from='https://download.openmmlab.com/...' keeps working (served from loopback)."""
    from mmengine.runner.checkpoint import load_checkpoint

    import mmsniper  # noqa: F401

    folder, url = http_root
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    sd = {k: torch.randn_like(v.float()).to(v.dtype) for k, v in model.state_dict().items()}
    # mmdet 2.x: mmcv-style meta; mmdet 3.x: mmengine meta + message hub.
    # (2.x files of 2019-2020 are in torch's legacy, pre-zip format)
    torch.save({'meta': {'mmcv_version': '1.7.0', 'CLASSES': ('person',), 'epoch': 12,
                         'iter': 100, 'config': 'model = dict()', 'hook_msgs': {}},
                'state_dict': sd}, osp.join(folder, 'faster_rcnn_2x-047c8118.pth'),
               _use_new_zipfile_serialization=False)
    three = _mmengine_checkpoint(osp.join(folder, 'faster_rcnn_3x-8d5b2a13.pth'))
    three['state_dict'] = sd
    torch.save(three, osp.join(folder, 'faster_rcnn_3x-8d5b2a13.pth'))
    for name in ('faster_rcnn_2x-047c8118.pth', 'faster_rcnn_3x-8d5b2a13.pth'):
        fresh = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
        load_checkpoint(fresh, f'{url}/{name}', map_location='cpu')
        assert all(torch.equal(fresh.state_dict()[k], v) for k, v in sd.items())


def test_offline_weights_error_names_the_file(torch_home):
    from mmengine.runner.checkpoint import _load_checkpoint

    import mmsniper  # noqa: F401
    from mmsniper.engine.checkpoint import WeightsUnavailableError, hub_cache_path

    # Port 9 on loopback (discard) is closed here: the download fails at once, as offline.
    url = 'http://127.0.0.1:9/models/resnet101-63fe2227.pth'
    with pytest.raises(WeightsUnavailableError) as err:
        _load_checkpoint(url)
    msg = str(err.value)
    entry = hub_cache_path(url)  # not torchvision's URL: its own entry
    assert entry.startswith(osp.join(torch_home, 'hub', 'checkpoints', 'by-url', ''))
    assert entry in msg and 'model.backbone.init_cfg=None' in msg


# -- the tools ----------------------------------------------------------------------------------
def _run(args, cwd, env):
    import subprocess
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize('script', ['train.py', 'test.py'])
def test_tools_refuse_urls_where_a_file_is_expected(tmp_path, workdir, script):
    """Regression: --resume and tools/test.py take local checkpoint files only."""
    args = tool(script) + [TINY]
    args += ['--resume', 'http://127.0.0.1:9/x.pth'] if script == 'train.py' else \
        ['http://127.0.0.1:9/x.pth']
    proc = _run(args, workdir, dict(_ENV, TORCH_HOME=str(tmp_path)))
    assert proc.returncode != 0 and 'does not exist' in proc.stderr



def test_switching_the_config_patch_off_keeps_the_safe_loader():
    """MMSNIPER_CONFIG_PREFIX=0 turns off the mmsniper:: config prefix, never the loader."""
    import subprocess
    import sys
    code = ('import mmsniper; from mmengine.config import utils; '
            'from mmengine.runner.checkpoint import CheckpointLoader as C; '
            'print("mmsniper" in utils.MODULE2PACKAGE, '
            'C._get_checkpoint_loader("x.pth").__module__)')
    for flag, prefix in (('0', 'False'), ('1', 'True')):
        out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                             env=dict(_ENV, MMSNIPER_CONFIG_PREFIX=flag), cwd=REPO)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == [prefix, 'mmsniper.engine.checkpoint'], out.stdout
