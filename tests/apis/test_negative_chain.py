"""Negative chip mining end to end: train RPN -> extract proposals -> train SNIPER with them."""
from __future__ import annotations

import os
import os.path as osp
import re
import sys

import numpy as np
import pytest

from conftest import FAST, FAST_TRAIN, REPO, run_tool, tool

sys.path.insert(0, osp.join(REPO, 'tools'))
from scaleshapes_runs import demo  # noqa: E402  (tools/, not the library)
from scaleshapes_runs import experiment as exp  # noqa: E402

RPN = osp.join(REPO, 'configs', 'scaleshapes', 'sniper_rpn_r18_scaleshapes.py')
NEG = osp.join(REPO, 'configs', 'scaleshapes', 'sniper_faster_r18_scaleshapes_neg.py')
RPN_OPTIONS = FAST + ['train_dataloader.batch_size=4']


@pytest.fixture(scope='module')
def rpn_root(tmp_path_factory, scaleshapes_root):
    """Step 1 as the demo (and the equal-compute SNIPER + negatives arm) runs it: the RPN
    alone on positive chips (2 iterations), in ``<root>/rpn``."""
    root = str(tmp_path_factory.mktemp('rpn'))
    os.makedirs(osp.join(root, 'data'))
    os.symlink(scaleshapes_root, osp.join(root, 'data', 'scaleshapes'))
    cwd = os.getcwd()
    os.chdir(root)  # the configs read data/scaleshapes relative to the working directory
    try:
        exp.train(RPN, osp.join(root, 'rpn'), 2, 0, RPN_OPTIONS, echo=False)
    finally:
        os.chdir(cwd)
    return root


@pytest.fixture(scope='module')
def rpn_checkpoint(rpn_root):
    return osp.join(rpn_root, 'rpn', 'iter_2.pth')


@pytest.mark.slow
def test_rpn_proposals_negative_chips_chain(workdir, rpn_root, monkeypatch):
    from mmsniper.datasets.proposals import load_proposals

    # Step 2, the demo's: the trained RPN is found (not trained again), proposals extracted.
    monkeypatch.chdir(rpn_root)
    rpn_run = demo.negative_proposals(osp.join(rpn_root, 'rpn'), rpn_iters=2,
                                      cfg_options=RPN_OPTIONS, echo=False)
    assert rpn_run['rpn']['skipped']
    props = rpn_run['proposals']
    assert rpn_run['extract_seconds'] > 0
    assert '--nms-pre 1000' in rpn_run['commands'][1]
    p = load_proposals(props)
    assert len(p) == 8                                  # every training image
    counts = np.diff(p.offsets)
    assert counts.max() <= 3 * 300 and counts.min() > 0
    assert set(np.unique(p.levels).tolist()) <= {0, 1, 2}
    assert not osp.exists(props + '.parts')

    neg_dir = osp.join(workdir, 'neg')
    opts = [f'sniper.proposals={props}', 'sniper.neg_min_proposals=5']   # one edit each
    log = run_tool(tool('train.py') + [NEG, '--work-dir', neg_dir, '--cfg-options', *FAST_TRAIN,
                                       *opts, 'train_cfg.max_iters=2',
                                       'train_dataloader.batch_size=4'], cwd=workdir)
    text = log.stdout + log.stderr
    m = re.search(r'SNIPER epoch 0: (\d+) positive \+ (\d+) negative chips', text)
    assert m and int(m.group(2)) > 0, text[-3000:]
    assert 'Iter(train) [2/2]' in text

    # Resumable: the step run again finds both results and starts no tool.
    def boom(*args, **kwargs):
        raise AssertionError(f'a finished step ran again: {args[0]}')

    monkeypatch.setattr(exp, 'run_logged', boom)
    monkeypatch.setattr(demo, 'run_logged', boom)
    again = demo.negative_proposals(osp.join(rpn_root, 'rpn'), rpn_iters=2,
                                    cfg_options=RPN_OPTIONS, echo=False)
    assert again['extract_seconds'] == rpn_run['extract_seconds']


@pytest.mark.slow
def test_extraction_resumes_from_finished_chunks(workdir, rpn_checkpoint):
    """Chunks already on disk are not computed again."""
    from mmsniper.apis.proposals import _chunk_path
    from mmsniper.datasets.proposals import save_proposals

    ckpt = rpn_checkpoint
    props = osp.join(workdir, 'p.npz')
    # chunk 0 (images 0-3) "finished before an interruption", with a marker box
    import json
    ann = json.load(open(osp.join(workdir, 'data', 'scaleshapes', 'annotations',
                                  'train.json')))
    ids = [im['id'] for im in ann['images']][:4]
    marker = np.array([[1, 2, 3, 4]], np.float32)
    os.makedirs(props + '.parts')
    save_proposals(_chunk_path(props + '.parts', 0), ids, [marker] * 4, [np.ones(1)] * 4)
    out = run_tool(tool('extract_proposals.py') + [RPN, ckpt, '--out', props, '--chunk', '4'],
                   cwd=workdir)
    assert 'resuming, 1 of 2 chunks already done' in out.stdout + out.stderr
    from mmsniper.datasets.proposals import load_proposals
    p = load_proposals(props)
    np.testing.assert_array_equal(p.get(ids[0])[0], marker)   # kept, not recomputed
    assert len(p.get(ann['images'][5]['id'])[0]) > 1           # the rest was computed


@pytest.mark.slow
def test_extraction_with_two_processes(workdir, rpn_checkpoint):
    """`--launcher pytorch` (tools/dist_test.sh style): chunks are shared out across ranks
    and rank 0 merges them into one file holding every image."""
    import sys

    from mmsniper.datasets.proposals import load_proposals

    props = osp.join(workdir, 'p2.npz')
    run_tool([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
              '--master_port=29541', osp.join(REPO, 'tools', 'extract_proposals.py'), RPN,
              rpn_checkpoint, '--out', props, '--chunk', '2', '--launcher', 'pytorch'],
             cwd=workdir)
    p = load_proposals(props)
    assert len(p) == 8 and len(set(p.image_ids.tolist())) == 8
    assert (np.diff(p.offsets) > 0).all()
    assert not osp.exists(props + '.parts')
