"""The README's headline commands, verbatim, offline, on a fresh install.

    mim train mmsniper configs/sniper_faster_r101.py
    mim test mmsniper configs/sniper_faster_r101.py --checkpoint CKPT --tta

run from a directory outside the checkout whose ``data/coco`` is a tiny COCO-format set.
Only the iteration count, batch size, workers and test scales change (``--cfg-options``);
``init_cfg`` does NOT: the backbone initialises from ``torchvision://resnet101`` through the
real loading path, from a randomly initialised ResNet-101 placed where torch's hub cache
keeps the downloaded file (``$TORCH_HOME/hub/checkpoints/resnet101-63fe2227.pth``).
"""
from __future__ import annotations

import copy
import glob
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch

from conftest import _ENV, BIN, REPO, run_tool

#: torchvision's file names for the ImageNet ResNets (the names in their URLs).
RESNET_FILES = {50: 'resnet50-0676ba61.pth', 101: 'resnet101-63fe2227.pth'}


def place_resnet(torch_home: str, depth: int, seed: int = 0) -> dict:
    """A random ResNet state dict with torchvision's key names, in torch's hub cache."""
    from mmdet.models.backbones import ResNet

    torch.manual_seed(seed)
    sd = ResNet(depth=depth).state_dict()
    sd = {k: v for k, v in sd.items() if not k.endswith('num_batches_tracked')}
    folder = osp.join(torch_home, 'hub', 'checkpoints')
    os.makedirs(folder, exist_ok=True)
    torch.save(sd, osp.join(folder, RESNET_FILES[depth]))
    return sd


def make_tiny_coco(root: str, n_train: int = 2, n_val: int = 1, seed: int = 0) -> None:
    """COCO-format ``annotations/instances_{train,val}2017.json`` and images, COCO's 80
    category names, a few boxes of three sizes per image."""
    import cv2
    from mmdet.datasets import CocoDataset

    rng = np.random.default_rng(seed)
    cats = [dict(id=i + 1, name=n) for i, n in enumerate(CocoDataset.METAINFO['classes'])]
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    ann_id = 1
    for split, n in (('train2017', n_train), ('val2017', n_val)):
        os.makedirs(osp.join(root, split), exist_ok=True)
        images, anns = [], []
        for i in range(n):
            w, h = 320, 240
            img = rng.integers(0, 80, (h, w, 3), dtype=np.uint8)
            for size in (12, 40, 120):
                x, y = int(rng.integers(0, w - size)), int(rng.integers(0, h - size))
                img[y:y + size, x:x + size] = 220
                anns.append(dict(id=ann_id, image_id=i + 1, category_id=1 + ann_id % 3,
                                 bbox=[x, y, size, size], area=size * size, iscrowd=0))
                ann_id += 1
            name = f'{i + 1:012d}.jpg'
            cv2.imwrite(osp.join(root, split, name), img)
            images.append(dict(id=i + 1, file_name=name, width=w, height=h))
        with open(osp.join(root, 'annotations', f'instances_{split}.json'), 'w') as f:
            json.dump(dict(images=images, annotations=anns, categories=cats), f)


@pytest.fixture
def coco_workdir(tmp_path):
    make_tiny_coco(str(tmp_path / 'data' / 'coco'))
    return str(tmp_path)


HEADLINE_OPTIONS = [
    'train_cfg.max_iters=1', 'train_dataloader.batch_size=1',
    'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
    'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
    'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
]
#: The test pyramid, shrunk to the tiny images (three levels, as the config's ranges).
TEST_SCALES = 'sniper.test_scales=[(480,640),(240,320),(120,160)]'


@pytest.mark.slow
def test_headline_commands_verbatim(coco_workdir, tmp_path):
    mim = osp.join(BIN, 'mim')
    torch_home = str(tmp_path / 'torch_home')
    place_resnet(torch_home, 101)
    env = dict(_ENV, TORCH_HOME=torch_home)
    wd = osp.join(coco_workdir, 'work_dirs', 'sniper_faster_r101')
    train = run_tool([mim, 'train', 'mmsniper', 'configs/sniper_faster_r101.py',
                      '--work-dir', wd, '--cfg-options', *HEADLINE_OPTIONS, TEST_SCALES],
                     cwd=coco_workdir, env=env, timeout=900)
    log = train.stdout + train.stderr
    assert 'Loads checkpoint by torchvision backend from path: torchvision://resnet101' in log
    assert 'pkg_resources is deprecated' not in log
    ckpt = osp.join(wd, 'iter_1.pth')
    from mmengine.runner.checkpoint import _load_checkpoint

    import mmsniper  # noqa: F401  (the safe loader)
    assert _load_checkpoint(ckpt, map_location='cpu')['meta']['iter'] == 1
    test = run_tool([mim, 'test', 'mmsniper', 'configs/sniper_faster_r101.py',
                     '--checkpoint', ckpt, '--tta', '--work-dir', wd,
                     '--cfg-options', *HEADLINE_OPTIONS, TEST_SCALES],
                    cwd=coco_workdir, env=env, timeout=900)
    assert 'coco/bbox_mAP' in test.stdout + test.stderr


def _hub_file_name(checkpoint: str) -> str:
    """The file torch's hub cache keeps for an ``init_cfg`` checkpoint name."""
    from mmsniper.engine.checkpoint import torchvision_model_urls

    if checkpoint.startswith('torchvision://'):
        checkpoint = torchvision_model_urls()[checkpoint[len('torchvision://'):]]
    assert checkpoint.startswith(('http://', 'https://')), checkpoint
    return osp.basename(checkpoint)


def test_shipped_coco_configs_initialise_from_placed_weights(tmp_path, monkeypatch):
    """Every shipped COCO config builds and ``init_weights()`` reads its backbone's
    pretrained file from torch's hub cache (a random stand-in placed there), by the real
    loading path: the ResNets, MobileNetV2 and whatever the detector configs name by URL."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope

    import mmsniper  # noqa: F401

    torch_home = str(tmp_path / 'torch_home')
    monkeypatch.setenv('TORCH_HOME', torch_home)
    folder = osp.join(torch_home, 'hub', 'checkpoints')
    os.makedirs(folder, exist_ok=True)
    checked, files = [], {}
    for path in sorted(glob.glob(osp.join(REPO, 'configs', '*.py'))):
        cfg = Config.fromfile(path)
        init_default_scope(cfg.get('default_scope', 'mmdet'))
        init_cfg = cfg.model.backbone.get('init_cfg')
        if not init_cfg:      # trained from scratch by design (the config says why)
            continue
        assert init_cfg['type'] == 'Pretrained', path
        # The stand-in: the backbone's own keys, random values, as the published file
        # names them (under init_cfg.prefix when the file holds a whole detector).
        # (a copy: some detectors, DINO's among them, write into the config they are given)
        torch.manual_seed(len(checked))
        model = MODELS.build(copy.deepcopy(cfg.model))
        prefix = init_cfg.get('prefix') or ''
        prefix = prefix if not prefix or prefix.endswith('.') else prefix + '.'
        name = _hub_file_name(init_cfg['checkpoint'])
        if name not in files:  # one file per name, as in a real cache (R-101: 170 MB)
            files[name] = {prefix + k: torch.randn(v.shape) if v.is_floating_point() else v
                           for k, v in model.backbone.state_dict().items()}
            torch.save(files[name], osp.join(folder, name))
        placed = files[name]
        model.init_weights()
        key = next(k for k, v in model.backbone.state_dict().items() if v.ndim == 4)
        expected = placed[prefix + key]
        assert torch.equal(model.backbone.state_dict()[key], expected), path
        checked.append(osp.basename(path))
    assert {'sniper_faster_r101.py', 'sniper_faster_r50.py', 'sniper_rpn_r101.py',
            'sniper_faster_r101_neg.py', 'sniper_faster_mobilenetv2.py'} <= set(checked)


def test_without_weights_the_error_names_the_file(tmp_path, monkeypatch):
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope

    import mmsniper  # noqa: F401
    from mmsniper.engine.checkpoint import WeightsUnavailableError

    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    # No network: make the download fail at once, as it does offline.
    import torch.hub

    def offline(url, dst, *a, **k):
        raise OSError('[Errno 101] Network is unreachable')
    monkeypatch.setattr(torch.hub, 'download_url_to_file', offline)
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'sniper_faster_r50.py'))
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    with pytest.raises(WeightsUnavailableError) as err:
        model.init_weights()
    msg = str(err.value)
    assert osp.join(str(tmp_path), 'hub', 'checkpoints', RESNET_FILES[50]) in msg
    assert 'model.backbone.init_cfg=None' in msg


def test_tools_print_no_pkg_resources_warning(tmp_path):
    """Parsing a config imports pkg_resources (mmengine's ``mmdet::`` lookup); the tools'
    prologue silences that one warning even with every other filter reset."""
    import subprocess
    import sys
    env = {k: v for k, v in _ENV.items() if k != 'PYTHONWARNINGS'}
    code = ('import runpy, sys, warnings; warnings.resetwarnings(); '
            'warnings.simplefilter("default"); '
            f'sys.path.insert(0, {osp.join(REPO, "tools")!r}); '
            f'sys.argv = ["test.py", {osp.join(REPO, "configs", "sniper_faster_r50.py")!r}, '
            '"missing.pth"]; '
            f'runpy.run_path({osp.join(REPO, "tools", "test.py")!r}, run_name="__main__")')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          env=env, cwd=str(tmp_path))
    assert proc.returncode != 0 and "checkpoint 'missing.pth' does not exist" in proc.stderr
    assert 'pkg_resources' not in proc.stderr
    # mim's own process (no mmsniper code runs before it): the venv's start-up filter.
    mim = subprocess.run([sys.executable, '-c', 'import mim.commands'], capture_output=True,
                         text=True, env=env)
    assert mim.returncode == 0 and 'pkg_resources' not in mim.stderr, mim.stderr
