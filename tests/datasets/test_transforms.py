"""ChipGenerator on hand-made cases: the cut, and the one decision which boxes it trains on."""
from __future__ import annotations

import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from mmdet.structures.bbox import HorizontalBoxes

from mmsniper.chips import Chip
from mmsniper.datasets import ChipGenerator, ChipTicket

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def gradient_image(w: int, h: int) -> np.ndarray:
    """uint8[h, w, 3]: channel 0 = x // 4, channel 1 = y // 4 (position readable from pixels)."""
    ys, xs = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = (xs // 4) % 256
    img[..., 1] = (ys // 4) % 256
    return img


def results_for(img, boxes, labels=None, ignore=None, ticket=None) -> dict:
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    n = len(boxes)
    r = dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2],
             gt_bboxes=HorizontalBoxes(boxes),
             gt_bboxes_labels=np.arange(n, dtype=np.int64) if labels is None else labels,
             gt_ignore_flags=np.zeros(n, bool) if ignore is None else ignore)
    if ticket is not None:
        r['chip'] = ticket
    return r


def ticket(level, scale, box, valid_range=(0.0, np.inf), kind='pos', chip_size=512,
           min_size=10.0, min_visible=0.5):
    return ChipTicket(0, Chip(level, scale, box, kind), valid_range, chip_size, min_size,
                      min_visible)


def test_chip_cut_maps_pixels_and_boxes_consistently():
    img = gradient_image(400, 300)
    # Chip at scale 2: scaled window (100, 100)-(612, 612) = original (50, 50)-(306, 306),
    # clipped to the original image height 300 -> scaled (100, 100)-(612, 600).
    t = ticket(0, 2.0, (50, 50, 306, 300))
    boxes = [[60, 70, 100, 110],      # inside
             [40, 60, 80, 100],       # straddles the left border
             [350, 10, 390, 40]]      # outside the chip
    r = ChipGenerator().transform(results_for(img, boxes, ticket=t))
    assert r['img'].shape == (512, 512, 3) and r['img_shape'] == (512, 512)
    assert r['chip'] == (50.0, 50.0, 306.0, 300.0) and r['chip_level'] == 0
    assert r['chip_scale'] == 2.0 and r['chip_kind'] == 'pos'
    np.testing.assert_allclose(r['scale_factor'], (2.0, 2.0), atol=0.02)
    got = r['gt_bboxes'].numpy()
    np.testing.assert_allclose(got, [[20, 40, 100, 120], [0, 20, 60, 100]], atol=1.0)
    assert r['gt_bboxes_labels'].tolist() == [0, 1]
    # Pixels: chip pixel (cx, cy) shows original ((cx + 100) / 2, (cy + 100) / 2).
    for cx, cy in [(10, 10), (200, 300), (500, 480)]:
        ox, oy = (cx + 100) / 2, (cy + 100) / 2
        assert abs(int(r['img'][cy, cx, 0]) - ox // 4) <= 1
        assert abs(int(r['img'][cy, cx, 1]) - oy // 4) <= 1
    # Below the image's bottom (scaled y >= 600 -> chip y >= 500) the chip is zero padding.
    assert r['img'][505:, :, :].max() == 0
    # The homography maps ORIGINAL to CHIP pixels like the boxes.
    H = r['homography_matrix']
    p = H @ np.array([60, 70, 1.0])
    np.testing.assert_allclose(p[:2], [20, 40], atol=1.0)


def test_chip_smaller_than_chip_size_is_padded():
    img = gradient_image(200, 150)
    r = ChipGenerator().transform(
        results_for(img, [[10, 10, 60, 60]], ticket=ticket(0, 1.0, (0, 0, 200, 150))))
    assert r['img'].shape == (512, 512, 3)
    assert r['img'][:150, :200].any() and r['img'][150:, :].max() == 0
    np.testing.assert_allclose(r['gt_bboxes'].numpy(), [[10, 10, 60, 60]], atol=0.5)


def test_empty_chip_keeps_consistent_empty_arrays():
    img = gradient_image(300, 300)
    r = ChipGenerator().transform(results_for(img, np.zeros((0, 4)),
                                              ticket=ticket(0, 1.0, (0, 0, 300, 300))))
    assert len(r['gt_bboxes']) == 0 and r['gt_bboxes_labels'].shape == (0,)
    assert r['gt_ignore_flags'].shape == (0,)


def test_chip_generator_marks_out_of_range_and_slivers_ignored():
    img = gradient_image(600, 600)
    boxes = [[100, 100, 140, 140],    # sqrt area 40: in [0, 80)
             [200, 200, 400, 400],    # 200: out of range -> ignored, not deleted
             [0, 10, 52, 50],         # cut by the chip's left edge at x=50: 2 px visible
             [300, 300, 330, 330]]    # 30, crowd -> stays ignored
    ignore = np.array([False, False, False, True])
    t = ticket(0, 1.0, (50, 0, 562, 512), valid_range=(0.0, 80.0))
    r = ChipGenerator().transform(results_for(img, boxes, ignore=ignore, ticket=t))
    assert not [k for k in r if k.startswith('chip_gt')]     # no private hand-over key
    assert r['gt_bboxes_labels'].tolist() == [0, 1, 2, 3]
    assert r['gt_ignore_flags'].tolist() == [False, True, True, True]
    # the ticket's min_visible and min_size are the ones applied
    loose = ticket(0, 1.0, (50, 0, 562, 512), valid_range=(0.0, 80.0), min_size=1,
                   min_visible=0.0)
    r = ChipGenerator().transform(results_for(img, boxes, ignore=ignore, ticket=loose))
    assert r['gt_ignore_flags'].tolist() == [False, True, False, True]
    strict = ticket(0, 1.0, (50, 0, 562, 512), valid_range=(0.0, 80.0), min_size=41)
    r = ChipGenerator().transform(results_for(img, boxes, ignore=ignore, ticket=strict))
    assert r['gt_ignore_flags'].tolist() == [True, True, True, True]


def test_negative_chip_ignores_everything():
    img = gradient_image(300, 300)
    t = ticket(1, 1.0, (0, 0, 300, 300), kind='neg')
    r = ChipGenerator().transform(
        results_for(img, [[10, 10, 60, 60], [100, 100, 150, 150]], ticket=t))
    assert r['gt_ignore_flags'].all() and len(r['gt_ignore_flags']) == 2


def test_missing_chip_and_old_scale_range_filter_are_clear_errors():
    from mmdet.registry import TRANSFORMS

    img = gradient_image(300, 300)
    with pytest.raises(KeyError, match='ChipSampler'):
        ChipGenerator().transform(results_for(img, [[0, 0, 5, 5]]))
    # an old pipeline's ScaleRangeFilter stops with what to do instead
    with pytest.raises(ValueError, match='ChipGenerator marks'):
        TRANSFORMS.build(dict(type='ScaleRangeFilter', min_size=10))
    # simple-mode settings are checked by the same rules as the `sniper` block
    with pytest.raises(ValueError, match=r'ChipGenerator.stride: expected less than '
                                         r'chip_size - 1 = 63'):
        ChipGenerator(chip_size=64, stride=63)


def test_simple_mode_draws_one_of_the_images_chips():
    img = gradient_image(640, 480)
    gen = ChipGenerator(scales=[(1400, 2000), (800, 1280), (-1, 512)],
                        train_ranges=[(-1, 80), (32, 150), (120, -1)])
    for _ in range(5):
        r = gen.transform(results_for(img, [[100, 100, 130, 130], [300, 200, 500, 400]]))
        assert r['img'].shape == (512, 512, 3)
        assert r['chip_level'] in (0, 1, 2)
        # the chosen chip holds at least one of the boxes it was planned for, in full
        assert len(r['gt_bboxes']) >= 1
    # an image without boxes still gets a (random) chip
    r = gen.transform(results_for(img, np.zeros((0, 4))))
    assert r['img'].shape == (512, 512, 3) and len(r['gt_bboxes']) == 0


def test_simple_mode_draws_follow_the_seed_mmengine_sets():
    """mmengine seeds NumPy's global generator from randomness.seed (main process and each
    worker); simple mode derives its draws from it: same seed, same chips."""
    img = gradient_image(640, 480)
    boxes = [[x, y, x + 30, y + 30] for x in range(20, 600, 90) for y in (40, 250, 400)]

    def draws(seed):
        np.random.seed(seed)
        gen = ChipGenerator(scales=[2.0, 1.0], train_ranges=[(-1, 80), (20, -1)],
                            chip_size=128, stride=16)
        return [gen.transform(results_for(img, boxes))['chip'] for _ in range(8)]

    assert draws(1) == draws(1)
    assert draws(1) != draws(2)


def test_full_pipeline_with_flip_and_pack():
    from mmcv.transforms import Compose
    from mmengine.registry import init_default_scope

    import mmsniper  # noqa: F401
    init_default_scope('mmdet')
    from mmsniper.datasets import SNIPER_META_KEYS
    pipe = Compose([dict(type='ChipGenerator'), dict(type='RandomFlip', prob=1.0),
                    dict(type='PackDetInputs', meta_keys=SNIPER_META_KEYS)])
    img = gradient_image(300, 300)
    t = ticket(0, 1.0, (0, 0, 300, 300), valid_range=(0.0, 80.0))
    out = pipe(results_for(img, [[10, 20, 60, 70], [100, 100, 250, 250]], ticket=t))
    ds = out['data_samples']
    assert out['inputs'].shape == (3, 512, 512)
    # the valid box is flipped within the 512-wide padded chip
    np.testing.assert_allclose(ds.gt_instances.bboxes.numpy(), [[452, 20, 502, 70]], atol=0.5)
    np.testing.assert_allclose(ds.ignored_instances.bboxes.numpy(), [[262, 100, 412, 250]],
                               atol=0.5)
    for key in ('chip', 'chip_level', 'chip_scale', 'chip_kind', 'chip_valid_range'):
        assert key in ds.metainfo


def test_huge_image_chip_costs_memory_of_the_image_not_the_rescaled_image():
    """A 10000x10000 image at scale 3: peak memory stays near the image (300 MB), far from
    the rescaled image (2.7 GB)."""
    code = f"""
import resource, sys
sys.path.insert(0, {REPO!r})
import numpy as np
from mmsniper.chips import Chip
from mmsniper.datasets.transforms import ChipGenerator
from mmsniper.datasets.tickets import ChipTicket
from mmdet.structures.bbox import HorizontalBoxes
img = np.full((10000, 10000, 3), 7, np.uint8)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = ChipTicket(0, Chip(0, 3.0, (5000, 5000, 5000 + 512 / 3, 5000 + 512 / 3)), (0, 1e9), 512)
box = HorizontalBoxes(np.array([[5010, 5010, 5050, 5050]], np.float32))
r = ChipGenerator().transform(dict(img=img, gt_bboxes=box,
    gt_bboxes_labels=np.zeros(1, np.int64), gt_ignore_flags=np.zeros(1, bool), chip=t))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert r['img'].shape == (512, 512, 3) and r['img'].max() == 7
print((after - before) // 1024)
"""
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    grew_mb = int(out.stdout.strip().splitlines()[-1])
    assert grew_mb < 100, f'cutting one chip grew peak memory by {grew_mb} MB'


SNIP_SCALES = [(960, 1400), (480, 800), (-1, 256)]
SNIP_RANGES = [(-1, 48), (24, 112), (96, -1)]


def test_snip_resize_trains_each_level_on_its_range_on_the_whole_image():
    from mmsniper.datasets import SnipResize

    snip = SnipResize(scales=SNIP_SCALES, train_ranges=SNIP_RANGES)
    img = gradient_image(640, 480)
    # sqrt(w*h) = 20, 200, 60 ORIGINAL pixels
    boxes = [[10, 10, 30, 30], [100, 100, 300, 300], [50, 50, 110, 110]]
    want = {0: (2.0, (1280, 960), [True, False, False]),     # 20 in [0, 48)
            1: (1.0, (640, 480), [False, False, True]),      # 60 in [24, 112)
            2: (0.4, (256, 192), [False, True, False])}      # 200 in [96, inf)
    seen = set()
    np.random.seed(0)
    for _ in range(30):
        out = snip.transform(results_for(img.copy(), boxes))
        level = out['chip_level']
        seen.add(level)
        s, (w, h), valid = want[level]
        # the whole image, resized, not padded to a square
        assert out['img'].shape == (h, w, 3) and out['img_shape'] == (h, w)
        assert out['chip'] == (0.0, 0.0, 640.0, 480.0) and out['chip_kind'] == 'pos'
        assert out['chip_scale'] == pytest.approx(s)
        # every box kept, in SCALED pixels; only the level's range is trained on
        np.testing.assert_allclose(out['gt_bboxes'].numpy(), np.array(boxes) * s, atol=0.01)
        assert (~out['gt_ignore_flags']).tolist() == valid
        assert out['chip_valid_range'] == tuple(
            float(v) if v != -1 else (0.0 if i == 0 else np.inf)
            for i, v in enumerate(SNIP_RANGES[level]))
        # pixels: the resized image (gradient readable back at the box corner)
        y, x = int(100 * s), int(100 * s)
        assert abs(int(out['img'][y, x, 0]) - 25) <= 1
    assert seen == {0, 1, 2}


def test_snip_resize_errors_name_what_to_do():
    from mmsniper.datasets import SnipResize

    with pytest.raises(KeyError, match='sniper'):
        SnipResize().transform(results_for(gradient_image(64, 64), [[0, 0, 10, 10]]))
    t = ticket(0, 1.0, (0, 0, 64, 64))
    with pytest.raises(ValueError, match='default sampler'):
        SnipResize(scales=SNIP_SCALES, train_ranges=SNIP_RANGES).transform(
            results_for(gradient_image(64, 64), [[0, 0, 10, 10]], ticket=t))
