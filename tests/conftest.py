"""Shared fixtures: a tiny generated ScaleShapes data set and a way to run the real tools."""
from __future__ import annotations

import functools
import os
import os.path as osp
import subprocess
import sys
from typing import List, Optional

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
BIN = osp.dirname(sys.executable)

# Tools run with 2 threads at most: the CI machine has 2 cores.
_ENV = dict(os.environ, OMP_NUM_THREADS='2', MKL_NUM_THREADS='2', PYTHONUNBUFFERED='1',
            PYTHONWARNINGS='ignore')


@pytest.fixture(autouse=True, scope='session')
def _cache_mmdet_metafile_lookups():
    """Every ``mmdet::`` base makes mmengine re-read all of mmdet's metafiles (about 0.4 s a
    lookup, several per config, ``mmengine.config.utils._get_cfg_metainfo``); the files do
    not change during a test session, so their parsed content is kept."""
    from mmengine.config import utils

    original = utils.load
    utils.load = functools.lru_cache(maxsize=None)(original)
    yield
    utils.load = original


@pytest.fixture(scope='session')
def scaleshapes_root(tmp_path_factory) -> str:
    """A small ScaleShapes set (COCO format): 8 train and 4 val images, seed 0."""
    from mmsniper.generated.scaleshapes import make_scaleshapes

    root = str(tmp_path_factory.mktemp('scaleshapes'))
    make_scaleshapes(root, splits={'train': 8, 'val': 4}, seed=0)
    return root


@pytest.fixture
def workdir(tmp_path, scaleshapes_root) -> str:
    """An empty directory OUTSIDE the checkout whose data/scaleshapes is the tiny set."""
    os.makedirs(tmp_path / 'data')
    os.symlink(scaleshapes_root, tmp_path / 'data' / 'scaleshapes')
    return str(tmp_path)


def run_tool(args: List[str], cwd: str, timeout: int = 600,
             env: Optional[dict] = None) -> subprocess.CompletedProcess:
    """Run a command; on failure show its output in the assertion message."""
    proc = subprocess.run(args, cwd=cwd, env=env or _ENV, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, (f'{" ".join(args)} failed ({proc.returncode}):\n'
                                  f'{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}')
    return proc


def tool(name: str) -> List[str]:
    """``[python, REPO/tools/<name>]``."""
    return [sys.executable, osp.join(REPO, 'tools', name)]


# Settings that make the tiny CPU runs quick: no worker processes, 2 iterations.
FAST = ['train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
        'default_hooks.logger.interval=1']
# ... and for training runs: no validation at the end (tools/test.py runs CocoMetric instead).
FAST_TRAIN = FAST + ['train_cfg.val_begin=1000000']


def make_airbus_source(root: str) -> None:
    """Two small Airbus Aircraft images in the source's layout (train/, valid/,
    annotations.csv): aircraft drawn as bright crosses on grey, boxes as closed pixel
    polygons (tests/configs/test_airbus_configs.py, tests/tools/test_airbus_compare.py)."""
    import numpy as np
    from PIL import Image

    rows = ['id,image_id,geometry,class']
    rng = np.random.default_rng(0)
    for sub in ('train', 'valid'):
        os.makedirs(osp.join(root, sub))
        img = np.full((320, 320, 3), 90, np.uint8)
        for k in range(4):
            x, y = (int(v) for v in rng.integers(10, 250, 2))
            s = 40 + 5 * k
            img[y + s // 3:y + 2 * s // 3, x:x + s] = 230  # wings
            img[y:y + s, x + s // 3:x + 2 * s // 3] = 230  # body
            poly = [(x, y), (x + s, y), (x + s, y + s), (x, y + s), (x, y)]
            rows.append(f'{len(rows)},{sub}.jpg,"{poly}",'
                        f'{"Truncated_airplane" if k == 3 else "Airplane"}')
        Image.fromarray(img).save(osp.join(root, sub, f'{sub}.jpg'))
    with open(osp.join(root, 'annotations.csv'), 'w') as f:
        f.write('\n'.join(rows) + '\n')
