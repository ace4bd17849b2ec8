"""Chip batches: the batch size never changes the detections; SAHI's slice layout."""
from __future__ import annotations

import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import MODELS, init_default_scope

from mmsniper.chips import chip_grid, grid_starts
from mmsniper.datasets import PYRAMID_META_KEYS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # test_tta's fake detector


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
    cfg.model.test_cfg.rpn.update(nms_pre=100, max_per_img=50)  # fast on a busy CPU
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


def test_batch_size_never_changes_detections(detector):
    rng = np.random.default_rng(0)
    # Two images whose chips share batches, of two shapes (the second image is shorter
    # than a chip); every chip detection goes to the merger (keep='all').
    images = [(rng.random((100, 130, 3)) * 255).astype(np.uint8),
              (rng.random((50, 120, 3)) * 255).astype(np.uint8)]
    levels = [dict(type='PyramidResize', scale=1.0, level=0, test_range=(-1, -1),
                   max_pixels=4000)]
    outs = []
    for bs in (1, 4):
        calls = []

        def counting(inputs, samples, inner=detector.predict, calls=calls, **kw):
            calls.append(len(inputs))
            return inner(inputs, samples, **kw)

        detector.predict = counting
        try:
            model = MODELS.build(dict(
                type='SniperTTAModel', module=detector, max_per_img=1000,
                merger=dict(type='GreedyNMMMerger', match_metric='IOU'),
                chip_cfg=dict(chip_size=64, overlap=32, batch_size=bs, keep='all')))
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


def test_infer_batch_size_runs_images_together_with_the_same_results(tmp_path):
    import cv2
    from test_tta import BlobDetector, canvas, pyramid

    from mmsniper.apis.inference import InferenceModel, infer
    from mmsniper.models import SniperTTAModel

    paths = []
    for i in range(3):  # 300 x 400 images cut into 128-px chips (max_pixels 1000)
        paths.append(str(tmp_path / f'im{i}.png'))
        cv2.imwrite(paths[-1], canvas(300, 400, [(20 + 30 * i, 40, 60 + 30 * i, 70, 1, 0.9),
                                                 (200, 150, 230, 190, 2, 0.6)]))
    coco = {}
    for bs in (None, 3):
        det = BlobDetector()
        model = InferenceModel(
            SniperTTAModel(module=det, merger=dict(type='NMSMerger'),
                           chip_cfg=dict(chip_size=128, batch_size=4)),
            [dict(type='LoadImageFromFile'), pyramid([(1.0, 1000, (-1, 40))]).transforms[1]],
            ('a', 'b', 'c'), None)
        coco[bs] = infer(None, None, paths, str(tmp_path / f'out{bs}'), progress=False,
                         draw=False, model=model, batch_size=bs).coco
        # 20 chips per image; batch 3: the 3 images in one test_step, their 60 chips in
        # 20 forward passes (one image at a time would take 3 x 7)
        assert det.calls == (3 * 5 if bs is None else 20)
    assert coco[None] == coco[3] and len(coco[3]['annotations']) == 6
