"""tools/analysis_tools/count_assignments.py: the counts are the heads' own."""
import os.path as osp

import pytest
import torch
from mmengine.dataset import pseudo_collate

from mmsniper.analysis.assignment_counts import arm_samples, count_assignments, load_arm

from conftest import REPO

CFG = osp.join(REPO, 'configs', 'scaleshapes')
ARMS = {'snip': ('snip', osp.join(CFG, 'snip_faster_mnv2_scaleshapes.py')),
        'pyramid': ('pyramid', osp.join(CFG, 'pyramid_faster_mnv2_scaleshapes.py')),
        'sniper': ('sniper', osp.join(CFG, 'sniper_faster_mnv2_scaleshapes.py'))}


@pytest.fixture
def in_workdir(workdir, monkeypatch):
    monkeypatch.chdir(workdir)  # the configs read data/scaleshapes/ from here
    return workdir


def test_counts_per_arm_and_level(in_workdir):
    res = count_assignments({k: ARMS[k] for k in ('snip', 'pyramid')}, [0])
    snip, pyr = res['snip']['levels'], res['pyramid']['levels']
    assert sorted(snip) == sorted(pyr) == [0, 1, 2]
    n = pyr[0]['gt']['valid']
    assert n > 0
    for lv in range(3):
        # the pyramid trains every box at every level; SNIP the same boxes, some ignored
        assert pyr[lv]['gt'] == {'valid': n, 'ignored': 0, 'no_valid': 0}
        assert snip[lv]['gt']['valid'] + snip[lv]['gt']['ignored'] == n
        assert pyr[lv]['rpn']['ign_by_box'] == pyr[lv]['rpn']['neg_on_ignored'] == 0
        # the same image size at each level, and ignoring the out-of-range boxes turns
        # none of the pyramid's positive or in-between anchors into negatives
        assert snip[lv]['rpn']['anchors'] == pyr[lv]['rpn']['anchors']
        assert snip[lv]['rpn']['neg'] == pyr[lv]['rpn']['neg']
        assert snip[lv]['rpn']['pos'] <= pyr[lv]['rpn']['pos']
        for arm in (snip, pyr):
            rpn = arm[lv]['rpn']
            assert rpn['pos'] + rpn['neg'] + rpn['ign'] == rpn['anchors']
            assert rpn['sampled_pos'] + rpn['sampled_neg'] == 256  # rpn.sampler.num
            assert rpn['sampled_pos'] == min(rpn['pos'], 128)
    assert sum(snip[lv]['gt']['valid'] for lv in range(3)) >= n  # every box somewhere
    # SNIPER's chips of the same image (ground truth only: no model)
    sniper = count_assignments({'sniper': ARMS['sniper']}, [0], gt_only=True)['sniper']
    assert sum(row['samples'] for row in sniper['levels'].values()) >= 1
    assert all(row['gt']['no_valid'] == 0 for row in sniper['levels'].values())


def test_counts_match_the_rpn_heads_targets(in_workdir):
    """The sampled anchors counted are those mmdet's RPN head trains on (its own
    get_targets on the same SNIP sample)."""
    from mmsniper.analysis.assignment_counts import count_sample

    cfg, model = load_arm(ARMS['snip'][1])
    _, level, sample = list(arm_samples('snip', cfg, [0]))[-1]  # the coarsest: small
    counts = count_sample(model, cfg, sample)
    data = model.data_preprocessor(pseudo_collate([sample]), training=True)
    ds = data['data_samples'][0]
    x = model.extract_feat(data['inputs'])
    rpn = model.rpn_head
    gt = ds.gt_instances.clone()
    gt.labels = torch.zeros_like(gt.labels)
    anchors, valid = rpn.get_anchors([f.shape[-2:] for f in x], [ds.metainfo], device='cpu')
    targets = rpn.get_targets(anchors, valid, [gt], [ds.metainfo],
                              [ds.get('ignored_instances')])
    labels, weights = torch.cat(targets[0], 1), torch.cat(targets[1], 1)
    assert int(((labels == 0) & (weights > 0)).sum()) == counts['rpn']['sampled_pos']
    assert int(targets[4]) == counts['rpn']['sampled_pos'] + counts['rpn']['sampled_neg']
