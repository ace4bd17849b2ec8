"""AutoFocus through the tools: the ScaleShapes config trains (focus loss logged), and
tools/test.py --tta runs AutoFocusTTAModel and reports pixels per scale, read by the sweep
driver (tools/scaleshapes_runs/autofocus.py)."""
from __future__ import annotations

import os.path as osp
import pickle
import sys

import pytest

from conftest import FAST, FAST_TRAIN, REPO, run_tool, tool

sys.path.insert(0, osp.join(REPO, 'tools'))
from scaleshapes_runs.autofocus import (  # noqa: E402
    AUTOFOCUS_CONFIG,
    pixel_summary,
    results_markdown,
    run_test,
)


@pytest.mark.slow
def test_autofocus_scaleshapes_trains_and_tests_with_tta(workdir, monkeypatch):
    wd = osp.join(workdir, 'w')
    out = run_tool(tool('train.py') + [osp.join(REPO, AUTOFOCUS_CONFIG), '--work-dir', wd,
                                       '--cfg-options', *FAST_TRAIN, 'train_cfg.max_iters=2',
                                       'train_dataloader.batch_size=2'], cwd=workdir)
    log = out.stdout + out.stderr
    assert 'Iter(train) [2/2]' in log and 'loss_focus' in log
    # tools/test.py --tta on two images, as the sweep runs it. The untrained branch says
    # ~0.01 (its prior) everywhere: a first threshold below it sends the coarsest level's
    # whole image to the middle one, the second (0.2) stops there.
    monkeypatch.chdir(workdir)
    res = run_test(AUTOFOCUS_CONFIG, osp.join(wd, 'iter_2.pth'), osp.join(wd, 'af'), True,
                   [*FAST, 'test_dataloader.dataset.indices=2',
                    'tta_model.focus_steps.0.threshold=0.005'], echo=False)
    assert 0 <= res['metrics']['AP'] <= 100
    preds = pickle.load(open(osp.join(wd, 'af', 'preds.pkl'), 'rb'))
    assert len(preds) == 2
    for p in preds:
        px, full = p['autofocus_pixels'], p['autofocus_full_pixels']
        # levels 0 (finest) .. 2 (coarsest); the coarsest always runs whole.
        assert sorted(px) == sorted(full) == [0, 1, 2] and px[2] == full[2] > 0
        assert p['autofocus_coarse_only'] is False
        assert px[1] == full[1] and px[0] == 0 < full[0]
    summary = res['pixels']
    assert summary['images'] == 2 and summary['coarse_only'] == 0
    assert summary['per_level'][0] == 0 and summary['per_level'][1] == 1
    assert 0 < summary['fraction'] < 1


def test_sweep_pixel_summary_and_table():
    preds = [dict(autofocus_pixels={2: 100, 1: 50, 0: 0}, autofocus_coarse_only=False,
                  autofocus_full_pixels={2: 100, 1: 400, 0: 1600}),
             dict(autofocus_pixels={2: 100, 1: 0, 0: 0}, autofocus_coarse_only=True,
                  autofocus_full_pixels={2: 100, 1: 400, 0: 1600})]
    s = pixel_summary(preds)
    assert (s['pixels'], s['full_pixels'], s['coarse_only'], s['images']) == (250, 4200, 1, 2)
    assert s['fraction'] == pytest.approx(250 / 4200)
    assert s['per_level'] == {0: 0.0, 1: 50 / 800, 2: 1.0}
    with pytest.raises(ValueError, match='autofocus_pixels'):
        pixel_summary([dict(pred_instances={})])
    table = results_markdown(dict(runs={
        'full pyramid': dict(metrics=dict(AP=30.0, APs=20.0), sec_per_img=0.5,
                             pixels=dict(fraction=1.0, coarse_only=0, images=2)),
        'AutoFocus 0.02 / 0.2': dict(metrics=dict(AP=29.5, APs=19.0), sec_per_img=0.2,
                                     pixels=s)}))
    assert '| AutoFocus 0.02 / 0.2 | 29.5 | 19.0 | 0.06x | 1 / 2 | 0.200 |' in table
