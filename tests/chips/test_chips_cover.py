"""Candidate windows, the generic greedy cover and the grid cover."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsniper.chips import candidate_windows, cover_windows, greedy_cover


def test_candidate_windows_hand_checked():
    win = candidate_windows(1000, 600, chip_size=512, stride=32)
    xs = list(range(0, 488, 32)) + [488]  # 0..480 on the grid, then flush right at 488
    ys = [0, 32, 64, 88]
    assert win.shape == (len(xs) * len(ys), 4) and win.dtype == np.float64
    expected = [(x, y, x + 512, y + 512) for x in xs for y in ys]  # x-start major
    np.testing.assert_array_equal(win, expected)


def test_candidate_windows_grid_hits_the_edge_exactly():
    # (576 - 512) is a multiple of 32: the flush window is not duplicated
    win = candidate_windows(576, 512, 512, 32)
    np.testing.assert_array_equal(win[:, 0], [0, 32, 64])
    np.testing.assert_array_equal(win[:, 3], [512, 512, 512])


def test_candidate_windows_image_smaller_than_chip():
    np.testing.assert_array_equal(candidate_windows(300, 200, 512, 32), [[0, 0, 300, 200]])
    win = candidate_windows(300, 700, 512, 100)  # narrow: one column, clipped width
    np.testing.assert_array_equal(win, [[0, 0, 300, 512], [0, 100, 300, 612],
                                        [0, 188, 300, 700]])


@pytest.mark.parametrize('args', [(0, 10), (10.5, 10), (10, 10, 0), (10, 10, 512, -3)])
def test_candidate_windows_rejects(args):
    with pytest.raises(ValueError, match='expected a positive integer'):
        candidate_windows(*args)


def test_greedy_cover_hand_checked():
    cands = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 0, 30, 10], [0, 0, 30, 10.]])
    boxes = np.array([[1, 1, 4, 4], [6, 1, 9, 4], [21, 1, 25, 4], [12, 1, 14, 4.]])
    # the wide window holds all four
    np.testing.assert_array_equal(greedy_cover(boxes, cands), [3])
    # without it: [0, 10] and [5, 15] both hold two boxes, the earlier wins; then
    # [5, 15] and [20, 30] hold one new box each, the earlier wins again
    np.testing.assert_array_equal(greedy_cover(boxes, cands[:3]), [0, 1, 2])
    np.testing.assert_array_equal(greedy_cover(boxes, cands[[1, 0, 2]]), [0, 1, 2])
    # ties go to the earliest candidate; a box no window holds stays uncovered
    np.testing.assert_array_equal(greedy_cover([[6, 1, 9, 4], [50, 0, 60, 5]], cands[:2]), [0])
    np.testing.assert_array_equal(greedy_cover([[6, 1, 9, 4]], cands[[1, 0]]), [0])
    assert greedy_cover(np.zeros((0, 4)), cands).shape == (0,)
    assert greedy_cover(boxes, np.zeros((0, 4))).dtype == np.int64


def test_greedy_cover_picks_the_best_each_round():
    rng = np.random.default_rng(3)
    for _ in range(30):
        cands = candidate_windows(int(rng.integers(60, 200)), int(rng.integers(60, 200)), 50, 7)
        xy = rng.uniform(0, 150, (25, 2))
        boxes = np.hstack([xy, xy + rng.uniform(1, 45, (25, 2))])
        inside = ((cands[:, None, :2] <= boxes[None, :, :2]).all(-1)
                  & (cands[:, None, 2:] >= boxes[None, :, 2:]).all(-1))
        uncovered = inside.any(0)
        for k in greedy_cover(boxes, cands):
            gains = (inside & uncovered).sum(1)
            assert gains[k] == gains.max() > 0
            assert k == np.flatnonzero(gains == gains.max())[0]
            uncovered &= ~inside[k]
        assert not uncovered.any()  # stops only when every holdable box is held


@settings(max_examples=200, deadline=None)
@given(w=st.integers(1, 900), h=st.integers(1, 900), chip=st.integers(16, 300),
       stride_frac=st.floats(0.01, 1.0), n=st.integers(0, 40), seed=st.integers(0, 2**32 - 1),
       shuffle=st.booleans())
def test_grid_cover_equals_generic_greedy(w, h, chip, stride_frac, n, seed, shuffle):
    stride = max(1, int(chip * stride_frac))
    gen = np.random.default_rng(seed)
    xy = gen.uniform(-0.1, 1.0, (n, 2)) * (w, h)
    boxes = np.hstack([xy, xy + gen.uniform(0, 1.1, (n, 2)) * chip])
    boxes[: n // 4] = np.round(boxes[: n // 4])  # whole pixels make ties on window edges
    cands = candidate_windows(w, h, chip, stride)
    if shuffle:
        draws = np.random.default_rng(seed).random(len(cands)) if len(cands) > 1 else [0.0]
        perm = np.argsort(-np.asarray(draws), kind='stable')
        got = cover_windows(boxes, (w, h), chip, stride, rng=np.random.default_rng(seed))
    else:
        perm = np.arange(len(cands))
        got = cover_windows(boxes, (w, h), chip, stride)
    expected = cands[perm][greedy_cover(boxes, cands[perm])]
    np.testing.assert_array_equal(got, expected)
    assert got.shape[1] == 4


def test_cover_windows_checks_arguments():
    with pytest.raises(ValueError, match=r'boxes_scaled: expected shape \(N, 4\), got \(4,\)'):
        cover_windows([1, 2, 3, 4], (100, 100))
    with pytest.raises(ValueError, match='rng'):
        cover_windows([[1, 2, 3, 4]], (100, 100), rng=np.random.RandomState(0))
    with pytest.raises(ValueError, match=r'scaled_size\[0\]'):
        cover_windows([[1, 2, 3, 4]], (100.5, 100))
    assert cover_windows(np.zeros((0, 4)), (100, 100)).shape == (0, 4)


def test_cover_windows_huge_grid_is_fast_enough_to_finish():
    # 30000 x 30000 scaled pixels: ~850k candidates, which the 3-D containment
    # tensor could not hold; the separable cover handles it.
    gen = np.random.default_rng(0)
    xy = gen.uniform(0, 29800, (300, 2))
    boxes = np.hstack([xy, xy + gen.uniform(5, 200, (300, 2))])
    win = cover_windows(boxes, (30000, 30000), 512, 32, rng=gen)
    held = np.zeros(len(boxes), dtype=bool)
    for x1, y1, x2, y2 in win:
        held |= ((boxes[:, 0] >= x1) & (boxes[:, 1] >= y1) & (boxes[:, 2] <= x2)
                 & (boxes[:, 3] <= y2))
    assert held.all() and len(win) <= len(boxes)
    assert len({tuple(r) for r in win}) == len(win)  # no window twice


def test_every_candidate_lies_inside_the_image():
    for w, h, chip, stride in itertools.product([1, 100, 513, 1867], [1, 384, 1400],
                                                 [64, 512], [1, 32, 57]):
        if stride == 1 and max(w, h) > 600:
            continue  # same geometry, just many windows
        win = candidate_windows(w, h, chip, stride)
        assert (win[:, :2] >= 0).all() and (win[:, 2] <= w).all() and (win[:, 3] <= h).all()
        assert ((win[:, 2:] - win[:, :2]) <= chip).all()
        assert (win == np.round(win)).all()
        assert len({tuple(r) for r in win}) == len(win)
