"""The mask-vs-box measurement's report (tools/analysis_tools/mask_vs_box.py); its training
and test steps are the experiment's (tests/tools/test_demo.py) on the mask config, which
tests/tools/test_mask_training.py trains and tests end to end."""
from __future__ import annotations

import os.path as osp
import sys

from conftest import REPO

sys.path.insert(0, osp.join(REPO, 'tools'))
from scaleshapes_runs import experiment as exp  # noqa: E402  (tools/, not the library)
from scaleshapes_runs import masks  # noqa: E402


def _test(ap, segm=None):
    m = dict(AP=ap, APs=ap - 1)
    if segm is not None:
        m.update(segm_AP=segm, segm_APs=segm - 2)
    return dict(metrics=m, sec_per_img=0.25)


def test_report_compares_boxes_masks_and_cost():
    res = dict(iters=10, seed=0,
               mask=dict(train=dict(sec_per_iter=1.2),
                         tests={'single-scale': _test(20.0, 15.0), 'pyramid': _test(26.0, 19.5)}),
               box=dict(train=dict(sec_per_iter=1.0),
                        tests={'single-scale': _test(21.0), 'pyramid': _test(25.0)}))
    text = masks.results_markdown(res)
    rows = [r for r in text.splitlines() if r.startswith('| ')][1:]
    assert rows[1] == ('| Mask R-CNN (box + mask) | pyramid | 26.0 | 25.0 | 19.5 | 17.5 | 1.20 '
                       '| 0.250 |')
    assert rows[2].startswith('| box-only | single-scale | 21.0 | 20.0 | - | - | 1.00 |')
    assert 'box AP with mask supervision - without, single-scale: -1.0' in text
    assert 'box AP with mask supervision - without, pyramid: +1.0' in text
    assert 'mask AP, pyramid - single-scale: +4.5' in text
    assert 'mask / box-only: 1.20x' in text


def test_segm_metrics_are_read_beside_the_box_metrics(tmp_path):
    d = tmp_path / 'run' / '20261130_000000'
    d.mkdir(parents=True)
    (d / '20261130_000000.json').write_text(
        '{"coco/bbox_mAP": 0.25, "coco/bbox_mAP_s": 0.2, "coco/segm_mAP": 0.125, '
        '"coco/segm_mAP_s": 0.1}')
    m = exp.read_test_metrics(str(tmp_path / 'run'))
    assert m == dict(AP=25.0, APs=20.0, segm_AP=12.5, segm_APs=10.0)

