"""Chip batches: the batch size never changes the detections; SAHI's slice layout."""
from __future__ import annotations

import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import MODELS, init_default_scope

from mmsniper.chips import chip_grid, grid_starts
from mmsniper.datasets import PYRAMID_META_KEYS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_stride_layout_is_sahis_slicing():
    from sahi.slicing import get_slice_bboxes

    for w, h, size, ratio in [(2560, 2560, 512, 0.2), (1000, 700, 256, 0.25), (300, 200, 512, 0.2),
                              (922, 512, 512, 0.2), (1332, 1000, 512, 0.1)]:
        overlap = int(ratio * size)
        ours = chip_grid((w, h), size, overlap, layout='stride').windows
        theirs = np.array(get_slice_bboxes(h, w, size, size, False, ratio, ratio), float)
        key = np.lexsort(ours.T[::-1])
        assert np.array_equal(ours[key], theirs[np.lexsort(theirs.T[::-1])]), (w, h)
    assert grid_starts(2560, 512, 102, 'stride').tolist() == [0, 410, 820, 1230, 1640, 2048]
    with pytest.raises(ValueError, match='layout'):
        grid_starts(100, 50, 10, 'even')


@pytest.fixture(scope='module')
def detector():
    init_default_scope('mmdet')
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'scaleshapes', 'faster_r18_scaleshapes.py'))
    cfg.model.test_cfg.rcnn.score_thr = 0.02
    torch.manual_seed(0)
    det = MODELS.build(cfg.model)
    det.init_weights()
    return det.eval()


def run(model, images, levels):
    pipeline = Compose([dict(type='mmdet.LoadImageFromNDArray'),
                        dict(type='TestTimeAug', transforms=[
                            levels, [dict(type='PackDetInputs', meta_keys=PYRAMID_META_KEYS)]])])
    data = pseudo_collate([pipeline(dict(img=img, img_id=i)) for i, img in enumerate(images)])
    with torch.no_grad():
        return model.test_step(data)


@pytest.mark.parametrize('keep', ['whole', 'all'])
def test_batch_size_never_changes_detections(detector, keep):
    rng = np.random.default_rng(0)
    # Two images: their chips share batches (of several shapes: the second is shorter
    # than a chip), one level of chips at scale 1 and one shrunk level as chips too.
    images = [(rng.random((150, 200, 3)) * 255).astype(np.uint8),
              (rng.random((60, 170, 3)) * 255).astype(np.uint8)]
    levels = [dict(type='PyramidResize', scale=1.0, level=0, test_range=(-1, 30),
                   max_pixels=4000),
              dict(type='PyramidResize', scale=0.7, level=1, test_range=(20, -1),
                   max_pixels=4000)]
    outs = []
    for bs in (1, 4):
        calls = []
        predict = detector.predict
        detector.predict = lambda inputs, samples, **kw: (calls.append(len(inputs)),
                                                          predict(inputs, samples, **kw))[1]
        try:
            model = MODELS.build(dict(
                type='SniperTTAModel', module=detector, max_per_img=1000,
                merger=dict(type='GreedyNMMMerger', match_metric='IOU'),
                chip_cfg=dict(chip_size=64, overlap=40, batch_size=bs, keep=keep)))
            outs.append([o.pred_instances for o in run(model, images, levels)])
        finally:
            del detector.predict
        assert max(calls) == bs and (bs == 1 or len(calls) < sum(calls))
    for a, b in zip(*outs):
        assert len(a) == len(b) > 5
        oa = np.lexsort(a.bboxes.numpy().T[::-1])
        ob = np.lexsort(b.bboxes.numpy().T[::-1])
        torch.testing.assert_close(a.bboxes[oa], b.bboxes[ob], atol=1e-3, rtol=0)
        torch.testing.assert_close(a.scores[oa], b.scores[ob], atol=1e-4, rtol=0)
        assert torch.equal(a.labels[oa], b.labels[ob])
