"""PyramidResize: the test pyramid's factors are the chip engine's; chip-mode views; windows."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from mmsniper.chips import scale_factor, scaled_image_size
from mmsniper.datasets import PYRAMID_META_KEYS, PyramidResize
from mmsniper.imagefiles import cut_scaled_window

SCALES = [(1400, 2000), (800, 1280), (480, 512), (-1, 512), 1.5, 0.37]


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (5, 5), 2)


@pytest.mark.parametrize('hw', [(480, 640), (640, 427), (333, 1000)])
@pytest.mark.parametrize('scale', SCALES)
def test_factor_and_size_are_the_chip_engines(hw, scale):
    h, w = hw
    boxes = np.array([[10., 20., 110., 70.]], dtype=np.float32)
    out = PyramidResize(scale=scale, level=2)(dict(
        img=np.zeros((h, w, 3), np.uint8), gt_bboxes=HorizontalBoxes(boxes)))
    s = scale_factor((w, h), scale)
    sw, sh = scaled_image_size((w, h), s)
    assert out['pyramid_scale'] == pytest.approx(s, rel=1e-12)
    assert out['img'].shape[:2] == (sh, sw) and out['img_shape'] == (sh, sw)
    assert out['scale'] == (sw, sh)
    assert out['scale_factor'] == pytest.approx((sw / w, sh / h))
    assert out['keep_ratio'] is True and out['pyramid_level'] == 2
    assert out['pyramid_chips'] is False
    np.testing.assert_allclose(out['homography_matrix'],
                               np.diag([sw / w, sh / h, 1.0]), rtol=1e-6)
    np.testing.assert_allclose(out['gt_bboxes'].numpy(),
                               boxes * [sw / w, sh / h, sw / w, sh / h], rtol=1e-5)


def test_reference_pyramid_of_a_640x480_image():
    img = np.zeros((480, 640, 3), np.uint8)
    shapes = [PyramidResize(scale=s, level=i)(dict(img=img.copy()))['img_shape']
              for i, s in enumerate([(1400, 2000), (800, 1280), (480, 512)])]
    # 2.917 (1400 / 480, 1867 <= 2000), 1.667, 0.8 (512 / 640 < 480 / 480).
    assert shapes == [(1400, 1867), (800, 1067), (384, 512)]


def test_max_pixels_leaves_the_level_original_for_the_chip_grid():
    img = _image(300, 400)
    t = PyramidResize(scale=2.0, level=0, max_pixels=400 * 300 * 4 - 1)
    out = t(dict(img=img.copy(), homography_matrix=np.eye(3, dtype=np.float32)))
    assert out['pyramid_chips'] is True and out['pyramid_scale'] == 2.0
    assert out['img'].shape == img.shape and np.array_equal(out['img'], img)
    assert out['img_shape'] == (300, 400) and out['scale_factor'] == (1.0, 1.0)
    np.testing.assert_allclose(out['homography_matrix'], np.eye(3))
    # At the limit exactly, the level is resized whole.
    out = PyramidResize(scale=2.0, level=0, max_pixels=400 * 300 * 4)(dict(img=img.copy()))
    assert out['pyramid_chips'] is False and out['img_shape'] == (600, 800)


def test_in_test_time_aug_every_view_carries_its_level():
    init_default_scope('mmdet')
    pipeline = Compose([
        dict(type='mmdet.LoadImageFromNDArray'),
        dict(type='TestTimeAug', transforms=[
            [dict(type='PyramidResize', scale=s, level=i, max_pixels=400_000)
             for i, s in enumerate([2.0, 1.0, (-1, 100)])],
            [dict(type='RandomFlip', prob=1.), dict(type='RandomFlip', prob=0.)],
            [dict(type='PackDetInputs', meta_keys=PYRAMID_META_KEYS)]])])
    data = pipeline(dict(img=_image(300, 400), img_id=7))
    metas = [d.metainfo for d in data['data_samples']]
    assert [(m['pyramid_level'], m['flip']) for m in metas] == [
        (0, True), (0, False), (1, True), (1, False), (2, True), (2, False)]
    assert [m['pyramid_chips'] for m in metas] == [True, True, False, False, False, False]
    assert [tuple(x.shape[1:]) for x in data['inputs']] == [(300, 400)] * 4 + [(75, 100)] * 2
    assert all(m['ori_shape'] == (300, 400) and m['img_id'] == 7 for m in metas)


def _views(tta: str, pack: str, img: np.ndarray) -> dict:
    pipeline = Compose([
        dict(type='mmdet.LoadImageFromNDArray'),
        dict(type=tta, transforms=[
            [dict(type='PyramidResize', scale=s, level=i, max_pixels=400_000)
             for i, s in enumerate([2.0, 1.0, (-1, 100)])],
            [dict(type='RandomFlip', prob=1.), dict(type='RandomFlip', prob=0.)],
            [dict(type=pack, meta_keys=PYRAMID_META_KEYS)]])])
    return pipeline(dict(img=img, img_id=7))


def test_shared_image_views_equal_mmcv_test_time_aug_without_its_copies():
    """PyramidTestTimeAug + PackPyramidInputs give every view what mmcv's TestTimeAug +
    PackDetInputs give it; the unflipped chip-grid level is the loaded image itself, and
    the other views never write into it."""
    init_default_scope('mmdet')
    img = _image(300, 400)
    ref = _views('TestTimeAug', 'PackDetInputs', img.copy())
    mine = _views('PyramidTestTimeAug', 'PackPyramidInputs', img)
    assert len(mine['inputs']) == len(ref['inputs']) == 6
    for a, b, sa, sb in zip(mine['inputs'], ref['inputs'], mine['data_samples'],
                            ref['data_samples']):
        assert a.dtype == b.dtype and torch.equal(a, b)
        assert sa.metainfo == sb.metainfo
    # view 1: level 0 (chip grid), not flipped: a CHW view of the image, no copy
    assert mine['data_samples'][1].metainfo['pyramid_chips'] is True
    assert np.shares_memory(mine['inputs'][1].numpy(), img)
    assert not mine['inputs'][1].is_contiguous()
    # flipped and resized views are packed as PackDetInputs packs them (own memory)
    assert not any(np.shares_memory(x.numpy(), img) for i, x in enumerate(mine['inputs'])
                   if i != 1)
    assert np.array_equal(img, _image(300, 400))  # nothing wrote into the shared image


def test_pack_pyramid_inputs_is_pack_det_inputs_elsewhere():
    from mmsniper.datasets import PackPyramidInputs

    img = _image(30, 40)
    for chips, image in [(False, img), (True, img[:, ::-1]), (True, img[:, :, 0]),
                         (True, img)]:
        out = PackPyramidInputs(meta_keys=('pyramid_chips',))(
            dict(img=image, pyramid_chips=chips))
        hwc = image if image.ndim == 3 else image[:, :, None]
        assert torch.equal(out['inputs'], torch.from_numpy(
            np.ascontiguousarray(hwc.transpose(2, 0, 1))))
        assert out['data_samples'].metainfo['pyramid_chips'] is chips
        shared = chips and image.ndim == 3 and image.strides[1] > 0
        assert np.shares_memory(out['inputs'].numpy(), image) == shared


def test_argument_checks():
    with pytest.raises(ValueError, match='scale'):
        PyramidResize(scale=(100, 200, 300), level=0)
    with pytest.raises(ValueError, match='level'):
        PyramidResize(scale=1.0, level=-1)
    with pytest.raises(ValueError, match='max_pixels'):
        PyramidResize(scale=1.0, level=0, max_pixels=0)


@pytest.mark.parametrize('s', [1.0, 2.0, 1.667, 0.8, 0.37, 3.0])
def test_cut_scaled_window_is_a_window_of_the_resized_image(s):
    img = _image(301, 457, seed=1)
    sw, sh = scaled_image_size((457, 301), s)
    full = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_LINEAR)
    windows = [(0, 0, min(100, sw), min(80, sh)), (sw - 64, sh - 50, sw, sh),
               (sw // 3, sh // 4, sw // 3 + 77, sh // 4 + 61)]
    for x1, y1, x2, y2 in windows:
        cut = cut_scaled_window(img, (x1, y1, x2, y2), (sw / 457, sh / 301))
        assert cut.shape == (y2 - y1, x2 - x1, 3) and cut.dtype == np.uint8
        # Fixed-point bilinear weights differ by at most one grey level; exact at s = 1.
        diff = np.abs(cut.astype(int) - full[y1:y2, x1:x2]).max()
        assert diff <= (0 if s == 1.0 else 1), (s, (x1, y1, x2, y2), diff)


def test_cut_scaled_window_single_channel_and_checks():
    img = _image(50, 60)[:, :, :1]
    assert cut_scaled_window(img, (0, 0, 30, 20), 2.0).shape == (20, 30, 1)
    with pytest.raises(ValueError, match='window'):
        cut_scaled_window(img, (10, 0, 10, 20), 2.0)
    with pytest.raises(ValueError, match='scale'):
        cut_scaled_window(img, (0, 0, 10, 20), -1.0)
