"""chip_stats.py and browse_chips.py on the tiny generated set."""
from __future__ import annotations

import glob
import json
import os.path as osp
import sys

import cv2
import numpy as np

from conftest import REPO, run_tool

SNIPER_TINY = osp.join(REPO, 'configs', 'scaleshapes', 'sniper_faster_r18_scaleshapes.py')


def test_chip_stats_cli_writes_consistent_json(workdir):
    out = osp.join(workdir, 'stats.json')
    proc = run_tool([sys.executable, osp.join(REPO, 'tools', 'analysis_tools', 'chip_stats.py'),
                     SNIPER_TINY, '--out', out], cwd=workdir)
    assert 'chips / single-scale' in proc.stdout
    st = json.load(open(out))
    assert st['images'] == 8 and st['boxes'] > 0
    assert len(st['levels']) == 3
    # pixels: chips are counted padded, 256x256 each
    chips = sum(lv['chips_per_image'] for lv in st['levels']) * st['images']
    assert abs(st['chip_mpix_per_image'] * st['images'] * 1e6 - chips * 256 ** 2) < 1
    assert 0 < st['ratio_to_pyramid'] < 1
    for lv in st['levels']:
        assert 0 <= lv['covered_share'] <= 1 and 0 <= lv['ignored_share'] <= 1
    # every box is valid at some level on this data: the levels together cover all of them
    assert sum(lv['covered_share'] for lv in st['levels']) >= 0.99


def test_browse_chips_draws_one_panel_per_level(workdir):
    out = osp.join(workdir, 'pics')
    run_tool([sys.executable, osp.join(REPO, 'tools', 'analysis_tools', 'browse_chips.py'),
              SNIPER_TINY, '--out', out, '--num', '3'], cwd=workdir)
    pngs = sorted(glob.glob(osp.join(out, '*.png')))
    assert len(pngs) == 3
    img = cv2.imread(pngs[0])
    ann = json.load(open(osp.join(workdir, 'data', 'scaleshapes', 'annotations', 'train.json')))
    first = ann['images'][0]
    f = min(1.0, 640 / max(first['width'], first['height']))
    assert img.shape[1] == 3 * round(first['width'] * f)
    # green (valid) or red (ignored) box outlines are drawn
    greenish = (img[..., 1] > 200) & (img[..., 0] < 30) & (img[..., 2] < 30)
    reddish = (img[..., 2] > 240) & (img[..., 0] < 30) & (img[..., 1] < 30)
    assert greenish.any() or reddish.any()
    assert np.asarray(img).std() > 5


def test_coco_like_positive_chips_cost_about_single_scale_pixels(tmp_path):
    """The paper's headline on COCO-like annotations at the default scales: positive chips
    cost at most ~1.3x the pixels of 800x1333 (1.07 MP per image) and well under half of
    the full three-scale pyramid."""
    sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
    from make_cocolike_annotations import make_cocolike

    from mmsniper.datasets import SniperDataset
    from mmsniper.datasets.chip_stats import compute_chip_stats

    ann = make_cocolike(400, seed=1)
    path = tmp_path / 'train.json'
    path.write_text(json.dumps(ann))
    ds = SniperDataset(dict(type='CocoDataset', ann_file=str(path), data_prefix=dict(img=''),
                            metainfo=dict(classes=[c['name'] for c in ann['categories']]),
                            filter_cfg=dict(filter_empty_gt=False), pipeline=[]))
    st = compute_chip_stats(ds, progress=False)
    assert st['chip_mpix_per_image'] <= 1.3 * 1.07
    assert st['ratio_to_pyramid'] < 0.45
