"""tools/analysis_tools/benchmark_train_step.py: times train_step per CPU option, same batches."""
from __future__ import annotations

import json
import os.path as osp
import sys

import pytest

from conftest import REPO

sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
import benchmark_train_step as bench  # noqa: E402

CONFIG = osp.join(REPO, 'configs', 'scaleshapes', 'sniper_faster_r18_scaleshapes.py')


@pytest.mark.slow
def test_variants_time_the_same_batches_and_channels_last_keeps_the_loss(workdir, monkeypatch):
    monkeypatch.chdir(workdir)                       # data/scaleshapes: the tiny set
    out = osp.join(workdir, 'bench.json')
    # warmup 0, one iteration: the loss timed is the first forward, before any update, so
    # two variants that compute the same thing report the same loss.
    res = bench.main([CONFIG, '--iters', '1', '--warmup', '0', '--variant', 'baseline',
                      'channels_last', '--cfg-options', 'train_dataloader.batch_size=2',
                      '--out', out])
    assert [r['variant'] for r in res] == ['baseline', 'channels_last']
    assert all('error' not in r and r['median_s'] > 0 and r['iters'] == 1 for r in res), res
    # channels_last feeds RoIAlign contiguous maps: the same loss (mmcv's CPU RoIAlign on
    # channels_last maps would give different features and a different loss).
    assert res[1]['last_loss'] == pytest.approx(res[0]['last_loss'], rel=1e-3, abs=1e-3)
    with open(out) as f:
        assert json.load(f)['results'] == res


def test_unknown_variant_is_an_error_that_lists_the_choices():
    with pytest.raises(SystemExit, match='--variant warp9: expected one of baseline'):
        bench.main([CONFIG, '--variant', 'warp9'])
