"""Scale factors, scaled sizes, valid ranges and pyramid pixels."""
import math

import numpy as np
import pytest

from mmsniper.chips import (
    normalize_ranges,
    pyramid_pixels,
    scale_factor,
    scale_factors,
    scaled_image_size,
    valid_range_mask,
)

COCO_SCALES = [(1400, 2000), (800, 1280), (-1, 512)]


def test_scale_factors_hand_checked_640x480():
    s = scale_factors((640, 480), COCO_SCALES)
    # 1400 / 480 = 2.9167 (2.9167 * 640 = 1867 <= 2000); 800 / 480 = 1.6667; 512 / 640.
    assert s == pytest.approx([1400 / 480, 800 / 480, 0.8])
    assert [round(v, 3) for v in s] == [2.917, 1.667, 0.8]


def test_scale_factor_long_side_bound_reduces():
    # 1400 / 300 = 4.67 would make the long side 4667 > 2000, so s = 2000 / 1000.
    assert scale_factor((1000, 300), (1400, 2000)) == pytest.approx(2.0)
    # portrait: short side is the width
    assert scale_factor((300, 1000), (1400, 2000)) == pytest.approx(2.0)
    assert scale_factor((480, 640), (800, 1280)) == pytest.approx(800 / 480)


def test_scale_factor_open_sides_and_plain_factor():
    assert scale_factor((640, 480), (-1, 512)) == pytest.approx(0.8)
    assert scale_factor((480, 640), (-1, 512)) == pytest.approx(0.8)
    assert scale_factor((640, 480), (960, -1)) == pytest.approx(2.0)  # no long-side bound
    assert scale_factor((640, 480), 3.0) == 3.0
    assert scale_factor((640, 480), 2) == 2.0
    assert scale_factor((640, 480), np.float32(1.5)) == 1.5
    assert scale_factor((640, 480), [800, 1280]) == pytest.approx(800 / 480)


@pytest.mark.parametrize('bad', [0, -2.0, math.nan, math.inf, (-1, -1), (0, 100), (800,),
                                 'x', (800, 1280, 3), True])
def test_scale_factor_rejects_bad_scales(bad):
    with pytest.raises(ValueError, match='scale'):
        scale_factor((640, 480), bad)


@pytest.mark.parametrize('bad', [(0, 480), (-1, 480), (640,), (math.nan, 480), None])
def test_scale_factor_rejects_bad_image_size(bad):
    with pytest.raises(ValueError, match='image_size'):
        scale_factor(bad, 1.0)


def test_scaled_image_size_rounds_half_up_like_mmcv():
    assert scaled_image_size((640, 480), 1400 / 480) == (1867, 1400)  # 1866.67 -> 1867
    assert scaled_image_size((3, 5), 0.5) == (2, 3)  # 1.5 -> 2, 2.5 -> 3
    assert scaled_image_size((10, 10), 0.01) == (1, 1)  # never below one pixel


def test_pyramid_pixels():
    expected = 1867 * 1400 + 1067 * 800 + 512 * 384
    assert pyramid_pixels((640, 480), COCO_SCALES) == expected
    assert pyramid_pixels((640, 480), []) == 0


def test_normalize_ranges_open_ends():
    r = normalize_ranges([(-1, 80), (32, 150), (120, -1), (None, None), (0, math.inf)])
    assert r.dtype == np.float64 and r.shape == (5, 2)
    np.testing.assert_array_equal(
        r, [[0, 80], [32, 150], [120, np.inf], [0, np.inf], [0, np.inf]])
    # an already normalised array passes through unchanged
    np.testing.assert_array_equal(normalize_ranges(r), r)


@pytest.mark.parametrize('bad', [[(80, 32)], [(10, 10)], [(-5, 10)], [(1, 2, 3)], [5],
                                 [(math.nan, 3)], 7])
def test_normalize_ranges_rejects(bad):
    with pytest.raises(ValueError, match='ranges'):
        normalize_ranges(bad)


def test_valid_range_mask_conventions():
    # sqrt(w * h) = 32, 80, 0, 50 (negative extents count as 0)
    boxes = np.array([[0, 0, 32, 32], [10, 10, 90, 90], [5, 5, 5, 50], [0, 0, 25, 100],
                      [10, 10, 0, 30]], dtype=np.float32)
    np.testing.assert_array_equal(valid_range_mask(boxes, (32, 80)),
                                  [True, False, False, True, False])
    np.testing.assert_array_equal(valid_range_mask(boxes, (32, 80), inclusive='right'),
                                  [False, True, False, True, False])
    np.testing.assert_array_equal(valid_range_mask(boxes, (-1, 80)),
                                  [True, False, True, True, True])
    np.testing.assert_array_equal(valid_range_mask(boxes, (None, 80), inclusive='right'),
                                  [True, True, False, True, False])
    np.testing.assert_array_equal(valid_range_mask(boxes, (50, -1)),
                                  [False, True, False, True, False])
    assert valid_range_mask(np.zeros((0, 4)), (0, 1)).shape == (0,)
    with pytest.raises(ValueError, match='inclusive'):
        valid_range_mask(boxes, (0, 1), inclusive='both')


def test_valid_range_mask_bad_boxes():
    with pytest.raises(ValueError, match=r'expected shape \(N, 4\), got \(2, 3\)'):
        valid_range_mask(np.zeros((2, 3)), (0, 1))
    with pytest.raises(ValueError, match=r'boxes\[1\] has a non-finite'):
        valid_range_mask([[0, 0, 1, 1], [0, np.nan, 1, 1]], (0, 1))
