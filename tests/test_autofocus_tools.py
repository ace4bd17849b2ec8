"""AutoFocus through the tools: the ScaleShapes config trains (focus loss logged) and
tools/test.py --tta runs AutoFocusTTAModel, reporting pixels per scale."""
from __future__ import annotations

import os.path as osp
import pickle

import pytest

from conftest import FAST, FAST_TRAIN, REPO, run_tool, tool

AUTOFOCUS_TINY = osp.join(REPO, 'configs', 'scaleshapes', 'autofocus_faster_r18_scaleshapes.py')


@pytest.mark.slow
def test_autofocus_scaleshapes_trains_and_tests_with_tta(workdir):
    wd = osp.join(workdir, 'w')
    out = run_tool(tool('train.py') + [AUTOFOCUS_TINY, '--work-dir', wd, '--cfg-options',
                                       *FAST_TRAIN, 'train_cfg.max_iters=2',
                                       'train_dataloader.batch_size=2'], cwd=workdir)
    log = out.stdout + out.stderr
    assert 'Iter(train) [2/2]' in log and 'loss_focus' in log
    out_pkl = osp.join(wd, 'autofocus.pkl')
    # Two images; the untrained branch says ~0.01 (its prior) everywhere: a first threshold
    # below it sends the coarsest level's whole image to the middle one, the second (0.2)
    # stops there.
    res = run_tool(tool('test.py') + [AUTOFOCUS_TINY, osp.join(wd, 'iter_2.pth'), '--tta',
                                      '--work-dir', wd, '--out', out_pkl, '--cfg-options',
                                      *FAST, 'test_dataloader.dataset.indices=2',
                                      'tta_model.focus_steps.0.threshold=0.005'], cwd=workdir)
    assert 'coco/bbox_mAP' in res.stdout + res.stderr
    preds = pickle.load(open(out_pkl, 'rb'))
    assert len(preds) == 2
    for p in preds:
        px, full = p['autofocus_pixels'], p['autofocus_full_pixels']
        # levels 0 (finest) .. 2 (coarsest); the coarsest always runs whole.
        assert sorted(px) == sorted(full) == [0, 1, 2] and px[2] == full[2] > 0
        assert p['autofocus_coarse_only'] is False
        assert px[1] == full[1] and px[0] == 0 < full[0]
