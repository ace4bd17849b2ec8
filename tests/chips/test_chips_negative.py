"""Negative chip generation on hand-made proposals."""
from __future__ import annotations

import numpy as np
import pytest

from mmsniper.chips import Chip, generate_negative_chips

SCALES = [2.0, 1.0, 0.5]
RANGES = [(-1, 80), (32, 150), (120, -1)]


def cluster(cx, cy, n, size, rng, spread=60):
    """n proposals of side ``size`` around (cx, cy), ORIGINAL pixels."""
    c = rng.uniform(-spread, spread, size=(n, 2)) + (cx, cy)
    return np.concatenate([c - size / 2, c + size / 2], axis=1)


def test_dense_cluster_outside_positives_gives_a_negative_chip():
    rng = np.random.default_rng(0)
    props = cluster(700, 500, 40, 20, rng)            # 40 small proposals: finest level
    chips = generate_negative_chips(props, (1000, 800), SCALES, RANGES, chip_size=512,
                                    stride=32, min_proposals=(25, 10, 10))
    assert len(chips) >= 1
    c = chips[0]
    assert c.kind == 'neg' and c.level == 0 and c.scale == 2.0
    x1, y1, x2, y2 = c.box
    held = ((props[:, 0] >= x1) & (props[:, 1] >= y1) & (props[:, 2] <= x2)
            & (props[:, 3] <= y2)).sum()
    assert held > 25


def test_sparse_proposals_give_none():
    rng = np.random.default_rng(1)
    props = cluster(500, 400, 20, 20, rng)             # 20 <= 25 at the finest level
    assert generate_negative_chips(props, (1000, 800), SCALES, RANGES,
                                   min_proposals=(25, 10, 10)) == []
    spread = np.array([[x, y, x + 20, y + 20] for x in range(0, 1000, 200)
                       for y in range(0, 800, 200)], float)   # 20 far apart
    assert generate_negative_chips(spread, (1000, 800), SCALES, RANGES,
                                   min_proposals=(5, 10, 10)) == []


def test_proposals_inside_positive_chips_never_make_a_negative_chip():
    rng = np.random.default_rng(2)
    props = cluster(200, 200, 60, 20, rng, spread=40)
    # a positive chip at the finest level covering the cluster: (0, 0)-(256, 256) original
    pos = [Chip(0, 2.0, (0, 0, 256, 256))]
    assert generate_negative_chips(props, (1000, 800), SCALES, RANGES, pos,
                                   min_proposals=(25, 10, 10)) == []
    # the same proposals with the positive chip at ANOTHER level: they are still negatives
    other = [Chip(1, 1.0, (0, 0, 512, 512))]
    assert len(generate_negative_chips(props, (1000, 800), SCALES, RANGES, other,
                                       min_proposals=(25, 10, 10))) >= 1


def test_out_of_range_proposals_are_left_to_other_levels():
    rng = np.random.default_rng(3)
    props = cluster(500, 400, 30, 100, rng)   # sqrt area 100: middle level only
    chips = generate_negative_chips(props, (1000, 800), SCALES, RANGES,
                                    min_proposals=(25, 10, 10))
    assert chips and {c.level for c in chips} == {1}


def test_min_proposals_must_match_levels():
    with pytest.raises(ValueError, match='one count per level'):
        generate_negative_chips(np.zeros((0, 4)), (100, 100), SCALES, RANGES,
                                min_proposals=(25, 10))
    assert generate_negative_chips(np.zeros((0, 4)), (100, 100), SCALES, RANGES) == []
