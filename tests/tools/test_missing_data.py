"""First contact: a COCO config trained where there is no COCO says so in a few lines (which
file, where the data is expected, the guide that prepares it, ``make demo``), before any
model or weight file is built, instead of a pycocotools traceback."""
from __future__ import annotations

import os.path as osp
import subprocess

from conftest import _ENV, REPO, tool


def test_train_without_coco_names_the_file_the_folder_the_guide_and_make_demo(tmp_path):
    proc = subprocess.run(tool('train.py') + [osp.join(REPO, 'configs', 'sniper_faster_r101.py')],
                          cwd=tmp_path, env=_ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    err = proc.stderr
    assert 'Traceback' not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert 1 <= len(lines) <= 6, err
    assert 'data/coco/annotations/instances_train2017.json' in lines[0]
    assert 'train_dataloader.dataset.dataset.ann_file' in lines[0]
    assert str(tmp_path / 'data' / 'coco' / 'annotations') in err
    guide = 'docs/user_guides/training.md#prepare-the-data'
    assert guide in err
    doc = open(osp.join(REPO, guide.split('#')[0])).read()
    assert '## Prepare the data' in doc
    assert 'make demo' in err
    assert not (tmp_path / 'work_dirs').exists()  # stopped before the runner was built
