"""AutoFocus in the chip engine: FocusPixel targets and FocusChips (property tests)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsniper.chips.focus import (
    REFERENCE_FOCUS_STEPS,
    FocusStep,
    cells_to_next_scale,
    component_boxes,
    dilate,
    focus_chips,
    focus_steps,
    focus_targets,
    interior_sides,
)

STEP = FocusStep(threshold=0.5, dilation=1, min_size=1)


def overlaps(a, b):
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


@st.composite
def maps(draw):
    h = draw(st.integers(1, 14))
    w = draw(st.integers(1, 14))
    cells = draw(st.lists(st.tuples(st.integers(0, h - 1), st.integers(0, w - 1)),
                          max_size=12))
    m = np.zeros((h, w))
    for y, x in cells:
        m[y, x] = draw(st.floats(0.0, 1.0))
    return m


@settings(max_examples=150, deadline=None)
@given(maps(), st.floats(0.01, 0.99), st.integers(1, 4), st.integers(1, 9))
def test_focus_chips_cover_every_focus_pixel_without_overlap(m, thr, dil, min_size):
    step = FocusStep(threshold=thr, dilation=dil, min_size=min_size)
    chips = focus_chips(m, step)
    h, w = m.shape
    hot = np.argwhere(m >= thr)
    if len(hot) == 0:
        assert chips.shape == (0, 4)
        return
    assert len(chips) >= 1
    # Inside the map, at least min_size (or the whole side), pairwise disjoint.
    assert (chips[:, 0] >= 0).all() and (chips[:, 1] >= 0).all()
    assert (chips[:, 2] <= w).all() and (chips[:, 3] <= h).all()
    assert ((chips[:, 2] - chips[:, 0]) >= min(min_size, w)).all()
    assert ((chips[:, 3] - chips[:, 1]) >= min(min_size, h)).all()
    for i in range(len(chips)):
        for j in range(i + 1, len(chips)):
            assert not overlaps(chips[i], chips[j])
    # Every dilated focus pixel lies in a chip.
    for y, x in np.argwhere(dilate(m >= thr, dil)):
        assert any(c[0] <= x < c[2] and c[1] <= y < c[3] for c in chips), (y, x)
    # Each chip holds a focus pixel (no chip from nothing).
    for c in chips:
        assert (m[c[1]:c[3], c[0]:c[2]] >= thr).any()


def test_components_are_8_connected_and_dilation_joins_near_blobs():
    m = np.zeros((6, 9), bool)
    m[0, 0] = m[1, 1] = True     # diagonal: one component
    m[4, 5] = m[4, 8] = True     # two apart by two cells
    assert component_boxes(m).tolist() == [[0, 0, 2, 2], [5, 4, 6, 5], [8, 4, 9, 5]]
    joined = component_boxes(dilate(m, 3))
    assert joined.tolist() == [[0, 0, 3, 3], [4, 3, 9, 6]]


def test_chips_grow_around_the_centre_shift_inside_and_merge():
    m = np.zeros((20, 30))
    m[10, 15] = 0.9              # grows to 6x6 around (15, 10): the odd cell goes right/down
    m[0, 0] = 0.9                # at the corner: shifted inside, still 6x6
    chips = focus_chips(m, FocusStep(0.5, 1, 6))
    assert chips.tolist() == [[0, 0, 6, 6], [13, 8, 19, 14]]
    m[5, 5] = 0.9                # its 6x6 box (3..9) overlaps the corner chip: merged
    chips = focus_chips(m, FocusStep(0.5, 1, 6))
    assert chips.tolist() == [[0, 0, 9, 9], [13, 8, 19, 14]]
    m[8, 10] = 0.9               # (8..14, 6..12) overlaps both: all one chip
    chips = focus_chips(m, FocusStep(0.5, 1, 6))
    assert chips.tolist() == [[0, 0, 19, 14]]


def test_chip_larger_than_the_image_is_clipped():
    m = np.full((3, 4), 0.9)
    assert focus_chips(m, FocusStep(0.5, 3, 16)).tolist() == [[0, 0, 4, 3]]
    # Padding cells beyond the image are not looked at.
    m = np.zeros((5, 5))
    m[4, 4] = 0.9
    assert focus_chips(m, STEP, grid_size=(4, 4)).shape == (0, 4)


def test_empty_map_has_no_chips():
    assert focus_chips(np.zeros((7, 7)), FocusStep(0.02, 3, 16)).shape == (0, 4)
    assert focus_chips(np.full((7, 7), np.nan), FocusStep(0.02, 3, 16)).shape == (0, 4)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 30), st.integers(1, 30), st.floats(1.0, 3.0), st.integers(0, 3))
def test_mapping_to_the_next_scale_covers_the_cells(w, h, ratio, seed):
    rng = np.random.default_rng(seed)
    stride = 16
    sw, sh = w * stride - int(rng.integers(0, stride)), h * stride - int(rng.integers(0, stride))
    x1, y1 = int(rng.integers(0, w)), int(rng.integers(0, h))
    cells = np.array([[x1, y1, int(rng.integers(x1 + 1, w + 1)), int(rng.integers(y1 + 1, h + 1))]])
    nw, nh = round(sw * ratio), round(sh * ratio)
    (px,) = cells_to_next_scale(cells, stride, (sw, sh), ratio, (nw, nh))
    assert (px == np.round(px)).all()
    assert 0 <= px[0] < px[2] <= nw and 0 <= px[1] < px[3] <= nh
    # The cells' pixels (clipped to the scaled image) times the ratio are inside.
    want = np.minimum(cells[0] * stride, [sw, sh, sw, sh]) * ratio
    assert px[0] <= want[0] + 1e-6 and px[1] <= want[1] + 1e-6
    assert px[2] >= min(want[2], nw) - 1e-6 and px[3] >= min(want[3], nh) - 1e-6


def test_interior_sides():
    sides = interior_sides(np.array([[0, 0, 50, 40], [10, 5, 100, 80]]), (100, 80))
    assert sides.tolist() == [[False, False, True, True], [True, True, False, False]]


def test_focus_targets_positive_ignore_negative():
    boxes = np.array([[0, 0, 20, 20],      # 20: positive, cells (0..1, 0..1)
                      [40, 0, 110, 70],    # 70: ignored ([64, 90))
                      [100, 100, 104, 104],  # 4: ignored (<= 5)
                      [0, 40, 100, 140]])  # 100: negative (>= 90)
    t = focus_targets(boxes, (128, 144), 16)
    assert t.shape == (9, 8) and t.dtype == np.int8
    assert (t[0:2, 0:2] == 1).all()
    assert (t[0:5, 2:7] == -1).all()
    assert t[6, 6] == -1 and t[6, 7] == 0
    assert t[8, 0] == 0 and t[2, 0] == 0
    # Positive wins where a small object and an ignored one share a cell.
    t = focus_targets(np.array([[0, 0, 20, 20], [10, 10, 80, 80]]), (96, 96), 16)
    assert t[1, 1] == 1 and t[2, 2] == -1
    # Thresholds are settings.
    t = focus_targets(np.array([[0, 0, 20, 20]]), (32, 32), 16, dc_low=2, small=10, dc_high=30)
    assert (t == -1).all()
    assert (focus_targets(np.zeros((0, 4)), (33, 16), 16) == 0).all()


@pytest.mark.parametrize('cfg,key', [
    (dict(threshold=0.0, dilation=3, min_size=16), 'focus_steps[0].threshold'),
    (dict(threshold=1.0, dilation=3, min_size=16), 'focus_steps[0].threshold'),
    (dict(threshold=0.2, dilation=0, min_size=16), 'focus_steps[0].dilation'),
    (dict(threshold=0.2, dilation=3, min_size=0), 'focus_steps[0].min_size'),
    (dict(threshold=0.2, dilation=3), 'focus_steps[0]'),
])
def test_bad_steps_name_the_key(cfg, key):
    with pytest.raises(ValueError, match=key.replace('[', r'\[').replace(']', r'\]')):
        focus_steps([cfg])


def test_reference_steps():
    steps = focus_steps(None)
    assert [(s.threshold, s.dilation, s.min_size) for s in steps] == [(0.02, 3, 16),
                                                                      (0.2, 3, 20)]
    assert len(REFERENCE_FOCUS_STEPS) == 2
