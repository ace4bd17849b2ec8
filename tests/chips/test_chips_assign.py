"""assign_boxes: which boxes a chip shows, in chip pixels, valid or ignored."""
import numpy as np
import pytest

from mmsniper.chips import BoxAssignment, Chip, assign_boxes

# A chip at scale 2 whose window is (200, 100)-(712, 612) in scaled pixels.
CHIP = Chip(level=0, scale=2.0, box=(100.0, 50.0, 356.0, 306.0))


def test_box_inside_is_valid_in_chip_pixels():
    a = assign_boxes([[110, 60, 150, 90]], CHIP, (-1, 80))
    assert isinstance(a, BoxAssignment) and len(a) == 1
    assert a.index.dtype == np.int64 and a.boxes.dtype == np.float32 and a.valid.dtype == bool
    np.testing.assert_array_equal(a.index, [0])
    np.testing.assert_array_equal(a.boxes, [[20, 20, 100, 80]])  # (220-200, 120-100, ...)
    np.testing.assert_array_equal(a.valid, [True])
    np.testing.assert_array_equal(a.ignored, [False])


def test_border_rule_straddle_sliver_and_tiny():
    boxes = np.array([
        [300, 60, 400, 100],  # scaled 600-800: 112 of 200 px inside (56%) -> valid, clipped
        [340, 60, 400, 100],  # scaled 680-800: 32 of 120 px inside (27%) -> sliver, ignored
        [351, 60, 400, 100],  # scaled 702-800: 10 of 98 px, 10 px wide -> ignored
        [120, 60, 123, 100],  # fully inside but 6 px wide at this scale -> ignored
        [400, 60, 450, 100],  # outside the chip -> not returned
        [90, 300, 120, 320],  # crosses the bottom-left corner: 40x12 of 60x40 -> 20%
    ])
    a = assign_boxes(boxes, CHIP, (-1, -1))
    np.testing.assert_array_equal(a.index, [0, 1, 2, 3, 5])
    np.testing.assert_array_equal(a.valid, [True, False, False, False, False])
    np.testing.assert_allclose(a.boxes[0], [400, 20, 512, 100])
    np.testing.assert_allclose(a.boxes[1], [480, 20, 512, 100])
    np.testing.assert_allclose(a.boxes[4], [0, 500, 40, 512])
    # thresholds are parameters: keep only fully visible, or any piece >= 10 px
    strict = assign_boxes(boxes, CHIP, (-1, -1), min_visible=1.0)
    np.testing.assert_array_equal(strict.valid, [False, False, False, False, False])
    loose = assign_boxes(boxes, CHIP, (-1, -1), min_visible=0.0, min_size=10)
    np.testing.assert_array_equal(loose.valid, [True, True, True, False, True])
    tiny_ok = assign_boxes(boxes, CHIP, (-1, -1), min_size=0)
    np.testing.assert_array_equal(tiny_ok.valid, [True, False, False, True, False])


def test_out_of_range_boxes_are_ignored_not_dropped():
    boxes = [[110, 60, 150, 90],    # sqrt(40 * 30) = 34.6
             [110, 60, 210, 160],   # 100
             [110, 60, 142, 92]]    # exactly 32
    a = assign_boxes(boxes, CHIP, (32, 80))
    np.testing.assert_array_equal(a.index, [0, 1, 2])
    np.testing.assert_array_equal(a.valid, [True, False, True])  # [lo, hi)
    right = assign_boxes(boxes, CHIP, (32, 80), inclusive='right')
    np.testing.assert_array_equal(right.valid, [True, False, False])  # (lo, hi]


def test_negative_chip_ignores_everything():
    neg = Chip(CHIP.level, CHIP.scale, CHIP.box, kind='neg')
    a = assign_boxes([[110, 60, 150, 90], [300, 60, 400, 100]], neg, (-1, -1))
    np.testing.assert_array_equal(a.index, [0, 1])
    np.testing.assert_array_equal(a.valid, [False, False])
    np.testing.assert_array_equal(a.ignored, [True, True])


def test_degenerate_boxes_inside_are_returned_ignored():
    boxes = [[120, 60, 120, 90],   # zero width, inside
             [150, 80, 140, 70],   # negative size, corner inside
             [10, 10, 10, 20],     # zero width, outside
             [356, 306, 356, 306]]  # a point on the chip's bottom-right corner
    a = assign_boxes(boxes, CHIP, (-1, -1))
    np.testing.assert_array_equal(a.index, [0, 1, 3])
    np.testing.assert_array_equal(a.valid, [False, False, False])


def test_image_size_clips_before_measuring_visibility():
    # a box that leaves a 300x280 image: 60% of it is outside the image
    chip = Chip(0, 1.0, (44.0, 24.0, 300.0, 280.0))
    box = [[260, 100, 360, 120]]
    np.testing.assert_array_equal(assign_boxes(box, chip, (-1, -1)).valid, [False])
    a = assign_boxes(box, chip, (-1, -1), image_size=(300, 280), min_visible=1.0)
    np.testing.assert_array_equal(a.valid, [True])
    np.testing.assert_array_equal(a.boxes, [[216, 76, 256, 96]])
    # the far edge rounds down: 643 * 1400 / 480 = 1875.4 -> the image is 1875 px wide
    s = 1400 / 480
    edge = Chip(0, s, (1363 / s, 888 / s, 643.0, 480.0))
    assert edge.scaled_box == (1363, 888, 1875, 1400)
    box = [[600, 440, 643, 480]]
    assert not assign_boxes(box, edge, (-1, -1), min_visible=1.0).valid[0]
    a = assign_boxes(box, edge, (-1, -1), image_size=(643, 480), min_visible=1.0)
    np.testing.assert_array_equal(a.valid, [True])
    assert a.boxes[0, 2] == 512


def test_empty_and_bad_input():
    a = assign_boxes(np.zeros((0, 4)), CHIP, (-1, -1))
    assert len(a) == 0 and a.boxes.shape == (0, 4) and a.valid.shape == (0,)
    with pytest.raises(ValueError, match=r'boxes\[1\] has a non-finite'):
        assign_boxes([[0, 0, 1, 1], [0, 0, np.nan, 1]], CHIP, (-1, -1))
    with pytest.raises(ValueError, match=r'expected shape \(N, 4\)'):
        assign_boxes(np.zeros((1, 3)), CHIP, (-1, -1))
    with pytest.raises(ValueError, match='chip'):
        assign_boxes(np.zeros((1, 4)), (0, 0, 10, 10), (-1, -1))
    with pytest.raises(ValueError, match='1..256'):
        assign_boxes(np.zeros((1, 4)), CHIP, (-1, -1), chip_size=256)
    with pytest.raises(ValueError, match='min_visible'):
        assign_boxes(np.zeros((1, 4)), CHIP, (-1, -1), min_visible=1.5)
    with pytest.raises(ValueError, match='min_visible'):
        assign_boxes(np.zeros((1, 4)), CHIP, (-1, -1), min_visible=-0.1)
    with pytest.raises(ValueError, match='min_size'):
        assign_boxes(np.zeros((1, 4)), CHIP, (-1, -1), min_size=-1)
    with pytest.raises(ValueError, match='min_size'):
        assign_boxes(np.zeros((1, 4)), CHIP, (-1, -1), min_size=None)
