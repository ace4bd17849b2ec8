"""generate_positive_chips: properties of the cover and robustness to bad input."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsniper.chips import (
    Chip,
    assign_boxes,
    generate_positive_chips,
    scale_factors,
    scaled_image_size,
)

COCO_SCALES = [(1400, 2000), (800, 1280), (-1, 512)]
COCO_RANGES = [(-1, 80), (32, 150), (120, -1)]
EPS = 1e-6


def taking_part(boxes, image_size, scales, ranges, chip_size, stride, min_size=0.0):
    """The documented rule, box by box: per level, the scaled clipped boxes to cover."""
    w, h = image_size
    out = []
    for (lo, hi), s in zip(ranges, scale_factors(image_size, scales)):
        lo = 0 if lo in (-1, None) else lo
        hi = math.inf if hi in (-1, None) else hi
        sw, sh = scaled_image_size(image_size, s)
        level = []
        for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, dtype=float)):
            size = math.sqrt(max(x2 - x1, 0) * max(y2 - y1, 0))
            if not lo <= size < hi:
                continue
            b = [min(max(x1, 0), w) * s, min(max(y1, 0), h) * s,
                 min(max(x2, 0), w) * s, min(max(y2, 0), h) * s]
            b = [min(b[0], sw), min(b[1], sh), min(b[2], sw), min(b[3], sh)]
            bw, bh = b[2] - b[0], b[3] - b[1]
            if bw <= 0 or bh <= 0 or bw < min_size or bh < min_size:
                continue
            if (sw > chip_size and bw >= chip_size - stride - 1) or (
                    sh > chip_size and bh >= chip_size - stride - 1):
                continue
            level.append((i, b))
        out.append(level)
    return out


def holds(chip, b):
    x1, y1, x2, y2 = chip.scaled_box
    return x1 <= b[0] + EPS and y1 <= b[1] + EPS and x2 >= b[2] - EPS and y2 >= b[3] - EPS


def random_boxes(gen, n, w, h, max_side):
    """Boxes mostly inside the image, some partly or wholly outside, some degenerate."""
    xy = gen.uniform(-0.05, 1.0, (n, 2)) * (w, h)
    side = np.exp(gen.uniform(0, math.log(max_side), (n, 1))) * np.exp(gen.normal(0, .4, (n, 2)))
    boxes = np.hstack([xy, xy + side])
    k = n // 10
    boxes[:k, 2:] = boxes[:k, :2] - gen.uniform(0, 3, (k, 2)) * gen.integers(0, 2, (k, 2))
    return boxes


SCALE_SETS = [(COCO_SCALES, COCO_RANGES), ([1.0], [(-1, -1)]), ([2.0, 0.5], [(-1, 40), (20, -1)]),
              ([(600, 1000)], [(None, None)]), ([3.0, (800, 1280), (-1, 512)], COCO_RANGES)]


@st.composite
def scenes(draw, max_boxes=60):
    w = draw(st.integers(20, 1500))
    h = draw(st.integers(20, 1500))
    scales, ranges = draw(st.sampled_from(SCALE_SETS))
    chip = draw(st.sampled_from([64, 128, 256, 512]))
    stride = draw(st.integers(max(1, chip // 16), chip // 3))  # >= 1, grids stay small
    n = draw(st.integers(0, max_boxes))
    seed = draw(st.integers(0, 2**32 - 1))
    gen = np.random.default_rng(seed)
    return dict(boxes=random_boxes(gen, n, w, h, max(w, h) / 2), image_size=(w, h),
                scales=scales, valid_ranges=ranges, chip_size=chip, stride=stride, seed=seed)


@settings(max_examples=200, deadline=None)
@given(scene=scenes())
def test_cover_properties(scene):
    seed = scene.pop('seed')
    chips = generate_positive_chips(**scene, rng=np.random.default_rng(seed))
    parts = taking_part(scene['boxes'], scene['image_size'], scene['scales'],
                        scene['valid_ranges'], scene['chip_size'], scene['stride'])
    factors = scale_factors(scene['image_size'], scene['scales'])
    w, h = scene['image_size']
    for level, part in enumerate(parts):
        mine = [c for c in chips if c.level == level]
        sw, sh = scaled_image_size(scene['image_size'], factors[level])
        for c in mine:
            assert c.kind == 'pos' and c.scale == factors[level]
            # inside the scaled (and original) image, at most chip_size per side
            x1, y1, x2, y2 = c.scaled_box
            assert 0 <= x1 < x2 <= sw and 0 <= y1 < y2 <= sh
            assert c.scaled_size[0] <= scene['chip_size'] and c.scaled_size[1] <= scene['chip_size']
            assert 0 <= c.box[0] < c.box[2] <= w and 0 <= c.box[1] < c.box[3] <= h
        # coverage: every box taking part lies fully inside a chip of its level
        for _, b in part:
            assert any(holds(c, b) for c in mine)
        # minimality: each chip holds a box that no earlier chip of its level held
        covered = set()
        for c in mine:
            new = {i for i, b in part if holds(c, b)} - covered
            assert new
            covered |= new
        assert len(mine) <= len(part)
    assert {c.level for c in chips} <= {lv for lv, p in enumerate(parts) if p}


@settings(max_examples=50, deadline=None)
@given(scene=scenes())
def test_deterministic_for_a_seed(scene):
    seed = scene.pop('seed')
    a = generate_positive_chips(**scene, rng=np.random.default_rng(seed))
    b = generate_positive_chips(**scene, rng=np.random.default_rng(seed))
    assert a == b
    assert generate_positive_chips(**scene) == generate_positive_chips(**scene)


def test_seed_changes_the_chips():
    gen = np.random.default_rng(0)
    boxes = random_boxes(gen, 100, 640, 480, 100)
    results = {tuple(generate_positive_chips(boxes, (640, 480), COCO_SCALES, COCO_RANGES,
                                             rng=np.random.default_rng(seed)))
               for seed in range(5)}
    assert len(results) >= 2


def test_no_rng_means_grid_order_ties():
    # windows starting at x, y in {0, 32, 64, 96} all hold the box; without a
    # shuffle the first in grid order wins
    chips = generate_positive_chips([[100, 100, 130, 130]], (1000, 800), [1.0], [(-1, -1)])
    assert chips == [Chip(0, 1.0, (0.0, 0.0, 512.0, 512.0))]
    seeded = {generate_positive_chips([[100, 100, 130, 130]], (1000, 800), [1.0], [(-1, -1)],
                                      rng=np.random.default_rng(seed))[0].scaled_box[:2]
              for seed in range(40)}
    assert seeded <= {(x, y) for x in (0, 32, 64, 96) for y in (0, 32, 64, 96)}
    assert len(seeded) > 4  # the shuffle spreads the ties


def test_coco_hand_checked_640x480():
    boxes = np.array([[10, 10, 50, 50],      # 40 px: finest + middle
                      [300, 200, 400, 330],  # 114 px: middle only
                      [0, 0, 600, 450]])     # 520 px: coarsest only
    chips = generate_positive_chips(boxes, (640, 480), COCO_SCALES, COCO_RANGES)
    by_level = {lv: [c for c in chips if c.level == lv] for lv in range(3)}
    # finest (1867x1400): box 0 scales to 29-146, only windows at x = y = 0 hold it
    assert [c.scaled_box for c in by_level[0]] == [(0, 0, 512, 512)]
    # middle (1067x800): boxes 0 and 1 scale to 17-83 and 500-667 x 333-550, which
    # no 512 window holds together: two chips
    s = 800 / 480
    assert len(by_level[1]) == 2
    assert sum(holds(c, boxes[0] * s) for c in by_level[1]) >= 1
    assert sum(holds(c, boxes[1] * s) for c in by_level[1]) >= 1
    # coarsest: the whole image, 512x384, as one chip clipped to the image
    assert by_level[2] == [Chip(2, 0.8, (0.0, 0.0, 640.0, 480.0))]
    assert by_level[2][0].scaled_size == (512, 384)


def test_empty_boxes():
    for empty in (np.zeros((0, 4)), [], np.zeros((0, 4), dtype=np.float32)):
        assert generate_positive_chips(empty, (640, 480), COCO_SCALES, COCO_RANGES) == []


def test_degenerate_and_outside_boxes_get_no_chip():
    boxes = [[100, 100, 100, 150],   # zero width
             [100, 100, 90, 80],     # negative size
             [700, 10, 760, 60],     # wholly right of the 640x480 image
             [-80, -80, -10, -10]]   # wholly above-left
    assert generate_positive_chips(boxes, (640, 480), [1.0], [(-1, -1)], 256, 32) == []
    chips = generate_positive_chips(boxes + [[5, 5, 45, 45]], (640, 480), [1.0], [(-1, -1)],
                                    256, 32)
    assert len(chips) == 1 and holds(chips[0], [5, 5, 45, 45])


def test_box_partly_outside_is_clipped_and_covered():
    boxes = [[600, 440, 700, 520]]  # sticks out right and bottom of 640x480
    chips = generate_positive_chips(boxes, (640, 480), [1.0], [(-1, -1)], 256, 32)
    assert len(chips) == 1 and holds(chips[0], [600, 440, 640, 480])
    assert chips[0].scaled_box[2:] == (640, 480)


def test_image_smaller_than_chip():
    chips = generate_positive_chips([[10, 10, 290, 190]], (300, 200), [1.0], [(-1, -1)])
    assert chips == [Chip(0, 1.0, (0.0, 0.0, 300.0, 200.0))]
    assert chips[0].scaled_size == (300, 200)
    # wider than the chip, lower than it: windows span the full height, so a box
    # taller than chip - stride - 1 still fits (no fit condition along y)
    chips = generate_positive_chips([[700, 0, 750, 480]], (1200, 480), [1.0], [(-1, -1)],
                                    512, 32)
    assert len(chips) == 1 and holds(chips[0], [700, 0, 750, 480])


def test_fit_condition_excludes_boxes_too_big_for_a_chip():
    # 512 - 32 - 1 = 479: a 478-px box takes part, a 479-px box does not
    ok = generate_positive_chips([[100, 100, 578, 200]], (2000, 2000), [1.0], [(-1, -1)])
    assert len(ok) == 1
    assert generate_positive_chips([[100, 100, 579, 200]], (2000, 2000), [1.0], [(-1, -1)]) == []
    # at the coarsest COCO scale the image fits one chip: no fit condition
    big = generate_positive_chips([[0, 0, 640, 480]], (640, 480), COCO_SCALES, COCO_RANGES)
    assert big == [Chip(2, 0.8, (0.0, 0.0, 640.0, 480.0))]


def test_min_size_skips_boxes_every_chip_would_ignore():
    boxes = [[100, 100, 103, 103], [200, 200, 240, 240]]  # 3 px -> 8.75 px at the finest scale
    chips = generate_positive_chips(boxes, (640, 480), COCO_SCALES[:1], COCO_RANGES[:1],
                                    min_size=10)
    assert len(chips) == 1 and holds(chips[0], np.array(boxes[1]) * 1400 / 480)
    assert len(generate_positive_chips(boxes, (640, 480), COCO_SCALES[:1], COCO_RANGES[:1],
                                       stride=300)) == 2  # no window holds both


@pytest.mark.parametrize('bad, match', [
    (np.zeros((3, 5)), r'expected shape \(N, 4\), got \(3, 5\)'),
    (np.zeros(4), r'expected shape \(N, 4\), got \(4,\)'),
    (np.zeros((2, 2, 4)), r'expected shape \(N, 4\), got \(2, 2, 4\)'),
    ([[0, 0, 1, 1], [0, 0, 1, 1], [0, np.nan, 5, 5]], r'boxes\[2\] has a non-finite'),
    ([[0, 0, np.inf, 1]], r'boxes\[0\] has a non-finite'),
    ([['a', 0, 1, 1]], 'not numeric'),
])
def test_bad_boxes_raise(bad, match):
    with pytest.raises(ValueError, match=match):
        generate_positive_chips(bad, (640, 480), COCO_SCALES, COCO_RANGES)


@pytest.mark.parametrize('kwargs, match', [
    (dict(valid_ranges=COCO_RANGES[:2]), 'one \\(lo, hi\\) per scale'),
    (dict(chip_size=0), 'chip_size'), (dict(stride=2.5), 'stride'),
    (dict(rng=np.random.RandomState(0)), 'rng'), (dict(image_size=(0, 10)), 'image_size'),
    (dict(min_size=-1.0), 'min_size'), (dict(min_size='big'), 'min_size'),
    (dict(stride=511), 'less than chip_size - 1 = 511'),
])
def test_bad_arguments_raise(kwargs, match):
    args = dict(boxes=[[0, 0, 10, 10]], image_size=(640, 480), scales=COCO_SCALES,
                valid_ranges=COCO_RANGES)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        generate_positive_chips(**args)


def test_huge_image_many_boxes_finishes_and_covers():
    gen = np.random.default_rng(1)
    boxes = random_boxes(gen, 2000, 10000, 10000, 1500)
    for scales, ranges in [(COCO_SCALES, COCO_RANGES), ([1.0], [(-1, -1)])]:
        chips = generate_positive_chips(boxes, (10000, 10000), scales, ranges, rng=gen)
        parts = taking_part(boxes, (10000, 10000), scales, ranges, 512, 32)
        assert sum(map(len, parts)) > 1000  # the test covers a real load
        for level, part in enumerate(parts):
            wins = np.array([c.scaled_box for c in chips if c.level == level]).reshape(-1, 4)
            b = np.array([b for _, b in part]).reshape(-1, 4)
            held = ((wins[:, None, :2] <= b[None, :, :2] + EPS).all(-1)
                    & (wins[:, None, 2:] >= b[None, :, 2:] - EPS).all(-1)).any(0)
            assert held.all()


@settings(max_examples=100, deadline=None)
@given(scene=scenes(max_boxes=30))
def test_every_covered_box_is_valid_somewhere(scene):
    """With the same min_size, a box the cover took is valid in a chip of its level."""
    seed = scene.pop('seed')
    chips = generate_positive_chips(**scene, rng=np.random.default_rng(seed), min_size=10)
    parts = taking_part(scene['boxes'], scene['image_size'], scene['scales'],
                        scene['valid_ranges'], scene['chip_size'], scene['stride'], min_size=10)
    for level, part in enumerate(parts):
        valid = set()
        for c in chips:
            if c.level == level:
                a = assign_boxes(scene['boxes'], c, scene['valid_ranges'][level],
                                 scene['chip_size'], min_size=10, min_visible=1.0,
                                 image_size=scene['image_size'])
                valid |= set(a.index[a.valid].tolist())
        assert {i for i, _ in part} <= valid
