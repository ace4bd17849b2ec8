"""SniperTTAModel: per-level ranges, flips, merging, the chip grid, inference output.

Most tests use ``BlobDetector``, a fake detector that "detects" exactly what is drawn in
the image it is given (so the plumbing is tested to the pixel); one test runs a real,
randomly initialised Faster R-CNN (configs/scaleshapes/faster_r18_scaleshapes.py).
"""
from __future__ import annotations

import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import MODELS, init_default_scope
from mmengine.structures import InstanceData

from mmsniper.chips import chip_grid, grid_keep, grid_starts, min_overlap, valid_range_mask
from mmsniper.datasets import PYRAMID_META_KEYS
from mmsniper.models import MERGERS, SniperTTAModel, level_range_mask

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


class BlobDetector(torch.nn.Module):
    """A fake detector: one box per 4-connected blob of channel 0 > 127 in its input.

    The blob's label is round(channel 1 / 40), its score channel 2 / 255 (medians over
    the blob). Boxes are in the input's pixels divided by ``scale_factor``, as a real
    detector's ``rescale=True`` output. Records the shape of every input it sees.
    """

    def __init__(self):
        super().__init__()
        self.seen = []
        self.calls = 0

    def test_step(self, data):
        self.calls += 1
        out = []
        for img, sample in zip(data['inputs'], data['data_samples']):
            arr = img.permute(1, 2, 0).numpy()
            self.seen.append(arr.shape[:2])
            n, lab, stats, _ = cv2.connectedComponentsWithStats(
                (arr[:, :, 0] > 127).astype(np.uint8), connectivity=4)
            boxes, scores, labels = [], [], []
            for k in range(1, n):
                x, y, w, h = stats[k, :4]
                boxes.append([x, y, x + w, y + h])
                inside = lab == k
                labels.append(int(round(np.median(arr[:, :, 1][inside]) / 40)))
                scores.append(float(np.median(arr[:, :, 2][inside])) / 255)
            sx, sy = sample.metainfo['scale_factor']
            b = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
            sample.pred_instances = InstanceData(
                bboxes=b / b.new_tensor([sx, sy, sx, sy]), scores=torch.tensor(scores),
                labels=torch.tensor(labels, dtype=torch.long))
            out.append(sample)
        return out


def canvas(h, w, objects):
    """BGR image with solid rectangles ``(x1, y1, x2, y2, label, score)`` on black."""
    img = np.zeros((h, w, 3), np.uint8)
    for x1, y1, x2, y2, label, score in objects:
        img[y1:y2, x1:x2] = (255, label * 40, round(score * 255))
    return img


def pyramid(levels, flip=False):
    """TTA pipeline over arrays: ``levels`` = [(scale, max_pixels[, test_range]), ...]
    (test range default: open at both ends)."""
    init_default_scope('mmdet')
    flips = ([dict(type='RandomFlip', prob=1.), dict(type='RandomFlip', prob=0.)] if flip
             else [dict(type='RandomFlip', prob=0.)])
    return Compose([
        dict(type='mmdet.LoadImageFromNDArray'),
        dict(type='TestTimeAug', transforms=[
            [dict(type='PyramidResize', scale=lv[0], level=i, max_pixels=lv[1],
                  test_range=lv[2] if len(lv) > 2 else (-1, -1))
             for i, lv in enumerate(levels)],
            flips,
            [dict(type='PackDetInputs', meta_keys=PYRAMID_META_KEYS)]])])


def run(model, pipeline, images):
    data = pseudo_collate([pipeline(dict(img=img, img_id=i)) for i, img in enumerate(images)])
    with torch.no_grad():
        return model.test_step(data)


def rows(sample):
    p = sample.pred_instances
    return sorted((tuple(round(v, 3) for v in b), int(lb))
                  for b, lb in zip(p.bboxes.tolist(), p.labels.tolist()))


# -- the per-level range filter ---------------------------------------------------------------

def squares(*sizes):
    return torch.tensor([[0., 0., s, s] for s in sizes])


def test_level_range_mask_is_left_open_right_closed():
    boxes = squares(0, 20, 32, 33, 75, 76, 90, 91, 100, 180, 181)
    finest = level_range_mask(boxes, (-1, 90)).tolist()
    middle = level_range_mask(boxes, (32, 180)).tolist()
    coarse = level_range_mask(boxes, (75, -1)).tolist()
    assert finest == [False, True, True, True, True, True, True, False, False, False, False]
    assert middle == [False, False, False, True, True, True, True, True, True, True, False]
    assert coarse == [False, False, False, False, False, True, True, True, True, True, True]
    # The same numbers as the chip engine's test-time convention.
    for lo_hi in [(-1, 90), (32, 180), (75, -1)]:
        ref = valid_range_mask(boxes.numpy(), lo_hi, inclusive='right')
        assert level_range_mask(boxes, lo_hi).numpy().tolist() == ref.tolist()


def view(level, boxes, scores, labels, flip=False, shape=(200, 300), test_range=(-1, -1)):
    lo, hi = (float(v) if v != -1 else (0.0 if k == 0 else float('inf'))
              for k, v in enumerate(test_range))
    s = DetDataSample(metainfo=dict(pyramid_level=level, pyramid_range=(lo, hi), flip=flip,
                                    flip_direction='horizontal' if flip else None,
                                    ori_shape=shape, img_id=0))
    s.pred_instances = InstanceData(bboxes=torch.tensor(boxes, dtype=torch.float32),
                                    scores=torch.tensor(scores),
                                    labels=torch.tensor(labels, dtype=torch.long))
    return s


def test_merge_keeps_each_levels_range_then_merges():
    model = SniperTTAModel(module=BlobDetector(),
                           merger=dict(type='NMSMerger', iou_threshold=0.5))
    big, small = [10., 10., 110., 110.], [150., 20., 170., 40.]  # sizes 100 and 20
    # each view brings its level's test range (PyramidResize's pyramid_range)
    finest = view(0, [big, small], [0.9, 0.8], [1, 2], test_range=(-1, 90))
    coarse = view(1, [big, small, [11., 10., 111., 110.]], [0.7, 0.95, 0.6], [1, 2, 1],
                  test_range=(75, -1))
    out = model.merge_preds([[finest, coarse]])[0]
    p = out.pred_instances
    # big from the coarse level only (its 0.7 beats its near copy 0.6), small from the
    # finest only (the coarse level's 0.95 copy is out of its range).
    assert p.bboxes.tolist() == [small, big] and p.scores.tolist() == pytest.approx([0.8, 0.7])
    assert p.labels.tolist() == [2, 1] and p.labels.dtype == torch.long


def test_merge_unflips_and_caps_max_per_img():
    model = SniperTTAModel(module=BlobDetector(), merger=dict(type='NMSMerger'),
                           max_per_img=2)
    # Width 300: a flipped view's [250, 10, 290, 50] is [10, 10, 50, 50] in the original.
    flipped = view(0, [[250., 10., 290., 50.], [0., 100., 30., 130.]], [0.9, 0.2], [0, 0],
                   flip=True)
    plain = view(0, [[10., 10., 50., 50.], [100., 100., 120., 120.]], [0.8, 0.5], [0, 0])
    p = model.merge_preds([[flipped, plain]])[0].pred_instances
    assert p.bboxes.tolist() == [[10., 10., 50., 50.], [100., 100., 120., 120.]]
    assert p.scores.tolist() == pytest.approx([0.9, 0.5])


def test_merge_needs_the_views_test_range():
    model = SniperTTAModel(module=BlobDetector())
    s = view(0, [[0., 0., 5., 5.]], [0.5], [0])
    bare = DetDataSample(metainfo=dict(ori_shape=(10, 10), pyramid_level=0))
    bare.pred_instances = s.pred_instances
    with pytest.raises(KeyError, match=r'pyramid_range.*PyramidResize\(test_range'):
        model.merge_preds([[bare]])
    # the model holds no test ranges of its own: they are sniper.test_ranges
    with pytest.raises(TypeError, match='test_ranges'):
        SniperTTAModel(module=BlobDetector(), test_ranges=[(-1, -1)])


def test_pipeline_views_to_original_pixels_with_flips():
    det = BlobDetector()
    model = SniperTTAModel(module=det, merger=dict(type='NMSMerger'))
    objects = [(20, 30, 50, 70, 1, 0.9), (100, 20, 190, 110, 2, 0.8)]  # sizes 34.6, 90
    out = run(model, pyramid([(2.0, None, (-1, 60)), (0.5, None, (40, -1))], flip=True),
              [canvas(150, 200, objects)])
    assert len(out) == 1 and isinstance(out[0], DetDataSample)
    # Four views (2 levels x flip); each object from its own level, flips undone, exact
    # after scaling back (up to interpolation at the object's edge at 0.5).
    got = out[0].pred_instances
    assert got.labels.tolist() == [1, 2]
    np.testing.assert_allclose(got.bboxes.numpy(), [[20, 30, 50, 70], [100, 20, 190, 110]],
                               atol=2.0)
    assert len(det.seen) == 4


# -- registry ----------------------------------------------------------------------------------

def test_tta_model_config_names_a_project_merger():
    used = []

    @MERGERS.register_module(name='_TestRecordingMerger', force=True)
    class Recording:
        def __init__(self, tag):
            self.tag = tag

        def __call__(self, bboxes, scores, labels):
            used.append((self.tag, len(scores)))
            return bboxes, scores, labels

    init_default_scope('mmdet')
    model = MODELS.build(dict(type='SniperTTAModel', module=BlobDetector(),
                              merger=dict(type='_TestRecordingMerger', tag='x', _scope_='mmdet')))
    assert isinstance(model, SniperTTAModel)
    run(model, pyramid([(1.0, None)]), [canvas(40, 50, [(5, 5, 15, 15, 0, 0.5)])])
    assert used == [('x', 1)]


# -- the chip grid (NumPy) -------------------------------------------------------------------

def test_grid_starts_overlap_and_cover():
    for size, chip, ov in [(400, 128, 45), (1000, 512, 100), (513, 512, 0), (129, 128, 127)]:
        st = grid_starts(size, chip, ov)
        assert st[0] == 0 and st[-1] == size - chip
        assert (np.diff(st) <= chip - ov).all() and (np.diff(st) > 0).all()
    assert grid_starts(100, 128, 45).tolist() == [0]
    assert grid_starts(400, 128, 45).tolist() == [0, 68, 136, 204, 272]
    with pytest.raises(ValueError, match='overlap'):
        grid_starts(400, 128, 128)


def test_grid_cores_tile_the_image():
    g = chip_grid((400, 300), 128, 45)
    assert len(g.windows) == 5 * 4
    pts = np.stack(np.meshgrid(np.arange(0, 400, 3.5), np.arange(0, 300, 3.5)), -1)
    pts = pts.reshape(-1, 2)
    inside = ((pts[:, None, 0] >= g.cores[None, :, 0]) & (pts[:, None, 0] < g.cores[None, :, 2])
              & (pts[:, None, 1] >= g.cores[None, :, 1]) & (pts[:, None, 1] < g.cores[None, :, 3]))
    assert (inside.sum(1) == 1).all()
    # Interior sides: the left column has no interior left side, etc.
    assert not g.interior[0, 0] and g.interior[0, 2] and not g.interior[-1, 2]


def test_grid_keep_drops_fragments_and_duplicates():
    g = chip_grid((400, 128), 128, 45)  # windows x: 0, 68, 136, 204, 272
    boxes = np.array([[80, 10, 110, 40],     # whole in chips 0 and 1: centre 95 < 98 -> chip 0
                      [80, 10, 110, 40],
                      [120, 10, 128, 40],    # chip 0's fragment of an object cut at x=128
                      [120, 10, 150, 40],    # the same object whole in chip 1
                      [0, 0, 20, 20]], float)  # on the image border: not a fragment
    keep = grid_keep(g, boxes, np.array([0, 1, 0, 1, 0]))
    assert keep.tolist() == [True, False, False, True, True]
    assert min_overlap(40, 2.0) == 45


# -- chip inference --------------------------------------------------------------------------

# 400 x 300 image, chips of 128 with overlap min_overlap(40) = 45 at scale 1:
# windows x at 0, 68, 136, 204, 272 (cores split at 98, 166, 234, 302), y at 0, 57, 115, 172.
OBJECTS = [
    (80, 50, 110, 80, 1, 0.9),     # inside the overlap of chips x0 and x68: two copies
    (120, 150, 150, 175, 2, 0.8),  # straddles chip x0's right side (128): a fragment there
    (190, 60, 290, 160, 3, 0.7),   # 100 x 100, out of range: chip x68 sees a 6 x 100
]                                  # sliver (size 24.5, in range) at its right side


def chip_model(det, **chip_cfg):
    return SniperTTAModel(module=det, merger=dict(type='NMSMerger'),
                          chip_cfg=dict(chip_size=128, batch_size=4, **chip_cfg))


def test_object_straddling_chips_found_once_and_fragments_dropped():
    det = BlobDetector()
    out = run(chip_model(det), pyramid([(1.0, 300 * 400 - 1, (-1, 40))]),
              [canvas(300, 400, OBJECTS)])
    assert rows(out[0]) == [((80, 50, 110, 80), 1), ((120, 150, 150, 175), 2)]
    # The memory path was used: 20 chips of at most 128 x 128, 4 per forward pass, and
    # the raw chip detections did hold the duplicates and fragments dropped above.
    assert len(det.seen) == 20 and max(max(s) for s in det.seen) == 128
    assert det.calls == 5
    grid = chip_grid((400, 300), 128, 45)
    raw = []
    for x1, y1, x2, y2 in grid.windows.astype(int):
        n, _, stats, _ = cv2.connectedComponentsWithStats(
            (canvas(300, 400, OBJECTS)[y1:y2, x1:x2, 0] > 127).astype(np.uint8))
        raw += [tuple(st[:4]) for st in stats[1:]]
    assert len(raw) > 8  # copies and fragments that the rules removed


def test_chip_path_equals_whole_image_path_when_upscaling():
    objects = [(30, 40, 45, 52, 1, 0.9), (60, 61, 75, 80, 2, 0.6), (98, 10, 112, 22, 1, 0.5),
               (140, 90, 155, 101, 0, 0.4)]
    img = canvas(120, 160, objects)
    whole = SniperTTAModel(module=BlobDetector(), merger=dict(type='NMSMerger'))
    det = BlobDetector()
    chips = SniperTTAModel(module=det, merger=dict(type='NMSMerger'),
                           chip_cfg=dict(chip_size=96, batch_size=3))
    a = run(whole, pyramid([(2.0, None, (-1, 20))]), [img])[0].pred_instances
    b = run(chips, pyramid([(2.0, 10_000, (-1, 20))]), [img])[0].pred_instances
    assert max(max(s) for s in det.seen) == 96 and len(det.seen) > 4
    assert len(a) == len(b) == 4
    oa, ob = torch.argsort(a.bboxes[:, 0]), torch.argsort(b.bboxes[:, 0])
    torch.testing.assert_close(a.bboxes[oa], b.bboxes[ob], atol=0.5, rtol=0)
    assert a.labels[oa].tolist() == b.labels[ob].tolist() == [1, 2, 1, 0]


def test_chip_path_with_flip_and_a_whole_level():
    det = BlobDetector()
    model = SniperTTAModel(module=det, merger=dict(type='NMSMerger'),
                           chip_cfg=dict(chip_size=128))
    out = run(model, pyramid([(1.0, 300 * 400 - 1, (-1, 40)), (0.5, None, (30, -1))], flip=True),
              [canvas(300, 400, OBJECTS)])
    got = rows(out[0])
    assert got[:2] == [((80, 50, 110, 80), 1), ((120, 150, 150, 175), 2)]
    # The big object comes from the coarse whole-image level, up to edge interpolation.
    assert len(got) == 3 and got[2][1] == 3
    np.testing.assert_allclose(got[2][0], (190, 60, 290, 160), atol=2)


def test_batch_mixing_whole_and_chip_views():
    # max_pixels 100k: the 400 x 300 image is cut into chips, the 200 x 150 one is not.
    det = BlobDetector()
    small_objects = [(20, 30, 50, 60, 1, 0.9), (120, 100, 150, 130, 2, 0.5)]
    out = run(chip_model(det), pyramid([(1.0, 100_000, (-1, 40))]),
              [canvas(300, 400, OBJECTS), canvas(150, 200, small_objects)])
    assert rows(out[0]) == [((80, 50, 110, 80), 1), ((120, 150, 150, 175), 2)]
    assert rows(out[1]) == [((20, 30, 50, 60), 1), ((120, 100, 150, 130), 2)]
    assert sorted(det.seen).count((150, 200)) == 1 and len(det.seen) == 21


def test_chip_overlap_settings_are_checked():
    img = [canvas(300, 400, OBJECTS)]
    open_ended = SniperTTAModel(module=BlobDetector(), chip_cfg=dict(chip_size=128))
    with pytest.raises(ValueError, match='open-ended'):
        run(open_ended, pyramid([(1.0, 1000, (75, -1))]), img)
    with pytest.raises(ValueError, match='below 45'):
        run(chip_model(BlobDetector(), overlap=30), pyramid([(1.0, 1000, (-1, 40))]), img)
    with pytest.raises(ValueError, match='chip_size'):  # needs 165 >= 128
        run(chip_model(BlobDetector()), pyramid([(4.0, 1000, (-1, 40))]), img)
    with pytest.raises(ValueError, match='unknown keys'):
        SniperTTAModel(module=BlobDetector(), chip_cfg=dict(size=3))


# -- a real detector ---------------------------------------------------------------------------

@pytest.fixture(scope='module')
def tiny_detector():
    from mmengine.config import Config

    init_default_scope('mmdet')
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'scaleshapes', 'faster_r18_scaleshapes.py'))
    torch.manual_seed(0)
    det = MODELS.build(cfg.model)
    det.init_weights()
    return det.eval()


def test_end_to_end_random_faster_rcnn(tiny_detector):
    ranges = [(-1, 20), (16, -1)]  # overlap 25: 2 x 2 chips of 64 at level 0
    model = MODELS.build(dict(type='SniperTTAModel', module=tiny_detector,
                              merger=dict(type='SoftNMSMerger', sigma=0.55), max_per_img=30,
                              chip_cfg=dict(chip_size=64, batch_size=4)))
    rng = np.random.default_rng(0)
    img = (rng.random((72, 96, 3)) * 255).astype(np.uint8)
    # Level 0 at scale 1 as a chip grid (96 x 72 > 5000 px), level 1 whole at 0.5.
    out = run(model, pyramid([(1.0, 5000, ranges[0]), (0.5, None, ranges[1])]),
              [img, img[:, ::-1].copy()])
    assert len(out) == 2
    for sample in out:
        assert isinstance(sample, DetDataSample) and sample.metainfo['ori_shape'] == (72, 96)
        p = sample.pred_instances
        assert 0 < len(p) <= 30 and p.labels.dtype == torch.long
        assert torch.all(p.scores[:-1] >= p.scores[1:])
        b = p.bboxes
        assert (b[:, 0] >= 0).all() and (b[:, 2] <= 96 + 1e-3).all()
        assert (b[:, 1] >= 0).all() and (b[:, 3] <= 72 + 1e-3).all()
        in_some = level_range_mask(b, ranges[0]) | level_range_mask(b, ranges[1])
        assert in_some.all()


# -- inference output --------------------------------------------------------------------------

def test_infer_writes_per_image_results_coco_json_and_pictures_and_resumes(tmp_path):
    from mmsniper.apis.inference import InferenceModel, infer

    pipeline = [dict(type='LoadImageFromFile'), pyramid([(1.0, None)]).transforms[1]]
    detector = BlobDetector()
    model = InferenceModel(SniperTTAModel(module=detector, merger=dict(type='NMSMerger')),
                           pipeline, ('a', 'b', 'c'), None)
    files = []
    for i, objs in enumerate([[(10, 20, 40, 30, 1, 0.9), (50, 5, 60, 15, 2, 0.2)], []]):
        path = tmp_path / 'imgs' / f'im{i}.png'
        path.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(path), canvas(60, 80, objs))
        files.append(str(path))
    out = tmp_path / 'out'
    summary = infer(None, None, [str(tmp_path / 'imgs')], str(out), score_thr=0.3,
                    progress=False, model=model)
    assert (summary.done, summary.resumed, summary.unreadable) == (2, 0, [])
    coco = summary.coco
    with open(out / 'detections.json') as f:
        assert json.load(f) == coco
    assert [im['file_name'] for im in coco['images']] == files
    assert coco['images'][0]['width'] == 80 and coco['images'][0]['height'] == 60
    assert coco['categories'][1] == dict(id=1, name='b')
    (ann,) = coco['annotations']  # the 0.2 detection is below score_thr
    assert ann['image_id'] == 0 and ann['category_id'] == 1
    assert ann['bbox'] == [10, 20, 30, 10] and ann['score'] == pytest.approx(0.9, abs=0.01)
    for i in range(2):
        assert cv2.imread(str(out / 'vis' / f'im{i}.png')).shape == (60, 80, 3)
    # DetInferencer's per-image file: every detection, (x1, y1, x2, y2).
    with open(out / 'preds' / 'im0.json') as f:
        pred = json.load(f)
    assert pred['labels'] == [1, 2] and pred['bboxes'] == [[10, 20, 40, 30], [50, 5, 60, 15]]
    assert pred['scores'] == pytest.approx([0.9, 0.2], abs=0.01)
    assert (pred['width'], pred['height'], pred['img_path']) == (80, 60, files[0])
    # A rerun runs no image again and gives the same detections.json.
    calls, written = detector.calls, os.stat(out / 'preds' / 'im0.json').st_mtime_ns
    again = infer(None, None, [str(tmp_path / 'imgs')], str(out), score_thr=0.3,
                  progress=False, model=model)
    assert (again.done, again.resumed) == (0, 2) and detector.calls == calls
    assert again.coco == coco
    assert os.stat(out / 'preds' / 'im0.json').st_mtime_ns == written


# -- the pyramid against single-scale, with a detector that has a limited scale range ----------

class BandDetector(BlobDetector):
    """``BlobDetector`` with the scale weakness SNIPER is about: it localises a blob well only
    when its ``sqrt(w * h)`` in the INPUT's pixels lies in ``[lo, hi]`` (its "training
    range"); outside it returns the blob as a box half as wide and high around its centre
    (IoU 0.25 with the truth), at half the score, as a detector does with objects far
    smaller or larger than it learned.
    """

    def __init__(self, lo=20.0, hi=140.0):
        super().__init__()
        self.lo, self.hi = lo, hi

    def test_step(self, data):
        out = super().test_step(data)
        for sample in out:
            p = sample.pred_instances
            sx, sy = sample.metainfo['scale_factor']
            wh = p.bboxes[:, 2:] - p.bboxes[:, :2]
            size_in_input = (wh[:, 0] * sx * wh[:, 1] * sy).sqrt()
            bad = (size_in_input < self.lo) | (size_in_input > self.hi)
            centre = (p.bboxes[:, :2] + p.bboxes[:, 2:]) / 2
            half = torch.cat([centre - wh / 4, centre + wh / 4], 1)
            p.bboxes = torch.where(bad[:, None], half, p.bboxes)
            p.scores = torch.where(bad, p.scores / 2, p.scores)
        return out


def scale_test_set(n_images=6, seed=0):
    """Images 480 x 640 with two tiny (7-11 px), two medium (40-60) and one huge (280-360)
    square each, labels 0-2, scores 0.5-0.99; returns the images and a COCO dict."""
    rng = np.random.default_rng(seed)
    images, coco = [], dict(images=[], annotations=[],
                            categories=[dict(id=i + 1, name=n) for i, n in enumerate('abc')])
    for i in range(n_images):
        # Huge object on the left, the others in the free right-hand column, in slots.
        objs = [(20, 60, int(rng.integers(280, 361)))]
        objs += [(400 + 110 * (k % 2), 20 + 150 * (k // 2), int(s))
                 for k, s in enumerate([*rng.integers(7, 12, 2), *rng.integers(40, 61, 2)])]
        spec = []
        for x, y, s in objs:
            label, score = int(rng.integers(0, 3)), float(rng.uniform(0.5, 0.99))
            spec.append((x, y, x + s, y + s, label, score))
            coco['annotations'].append(dict(
                id=len(coco['annotations']) + 1, image_id=i, category_id=label + 1,
                bbox=[x, y, s, s], area=s * s, iscrowd=0))
        images.append(canvas(480, 640, spec))
        coco['images'].append(dict(id=i, file_name=f'{i}.png', height=480, width=640))
    return images, coco


def coco_ap(tmp_path, coco, samples):
    from mmdet.evaluation import CocoMetric

    ann = tmp_path / 'scale_test.json'
    ann.write_text(json.dumps(coco))
    metric = CocoMetric(ann_file=str(ann), metric='bbox')
    metric.dataset_meta = dict(classes=tuple('abc'))
    metric.process({}, [s.to_dict() for s in samples])
    res = metric.evaluate(len(samples))
    return {k.split('_', 1)[1]: 100 * v for k, v in res.items()}


def test_pyramid_beats_single_scale_on_tiny_and_huge_objects(tmp_path):
    images, coco = scale_test_set()
    for s in images:
        assert s.any()
    # Single scale: the detector once, on the image as it is (one level, no range).
    single = SniperTTAModel(module=BandDetector(), merger=dict(type='NMSMerger'))
    ss = coco_ap(tmp_path, coco, run(single, pyramid([(1.0, None)]), images))
    # The pyramid: x3 brings tiny objects into the band, x0.3 the huge ones; each level
    # keeps only what is in its band (ORIGINAL pixels: 20/3 .. 140/3, 20 .. 140, 67 .. 467).
    det = BandDetector()
    pyr = SniperTTAModel(module=det, merger=dict(type='NMSMerger', iou_threshold=0.5))
    levels = pyramid([(3.0, None, (-1, 40)), (1.0, None, (20, 140)), (0.3, None, (67, -1))])
    ranged = run(pyr, levels, images)
    py = coco_ap(tmp_path, coco, ranged)
    # The detector saw the three levels of every image: 1920 x 1440, 640 x 480, 192 x 144.
    assert sorted(set(det.seen)) == [(144, 192), (480, 640), (1440, 1920)]
    # Single scale localises only the medium objects; the pyramid gets every object right.
    assert ss['mAP_m'] > 95 and ss['mAP_s'] < 5 and ss['mAP_l'] < 5
    assert py['mAP_s'] > 95 and py['mAP_m'] > 95 and py['mAP_l'] > 95
    assert py['mAP'] > ss['mAP'] + 40
    # Without the ranges more of the mislocalised copies from the wrong levels stay (they
    # overlap the right boxes by IoU 0.25, below NMS's 0.5) as false positives.
    open_ranges = SniperTTAModel(module=BandDetector(),
                                 merger=dict(type='NMSMerger', iou_threshold=0.5))
    out = run(open_ranges, pyramid([(3.0, None), (1.0, None), (0.3, None)]), images)
    assert sum(len(s.pred_instances) for s in out) > sum(len(s.pred_instances) for s in ranged)
