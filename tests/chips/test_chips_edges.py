"""The edge rule (mmsniper/chips/chip.py): every chip's box lies inside the image, is its
window divided by the scale, and reaches the image's border where the window reaches the
scaled image's border. Checked over random image sizes and scales, tiny scaled sides
included, for positive, negative and simple-mode chips."""
import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mmsniper.chips import (
    Chip,
    SniperSettings,
    draw_ticket,
    generate_negative_chips,
    generate_positive_chips,
    scaled_image_size,
)
from mmsniper.chips.chip import window_box


def check_edge_rule(chip: Chip, w: float, h: float, chip_size: int) -> None:
    """The rule, side by side, from the chip alone (no use of window_box)."""
    s = chip.scale
    sw, sh = scaled_image_size((w, h), s)
    x1, y1, x2, y2 = chip.box
    assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h, (chip, w, h)  # inside the image
    X1, Y1, X2, Y2 = chip.scaled_box
    assert 0 <= X1 < X2 <= sw and 0 <= Y1 < Y2 <= sh, (chip, sw, sh)
    assert X2 - X1 <= chip_size and Y2 - Y1 <= chip_size
    assert x1 == pytest.approx(X1 / s, rel=1e-12, abs=1e-9)
    assert y1 == pytest.approx(Y1 / s, rel=1e-12, abs=1e-9)
    for side, window_side, border, scaled_border in ((x2, X2, w, sw), (y2, Y2, h, sh)):
        if window_side == scaled_border:  # on the far border: the box reaches the image's
            assert side == border, (chip, w, h, sw, sh)
        else:  # elsewhere the window / s, clear of the border
            assert side == pytest.approx(window_side / s, rel=1e-12, abs=1e-9)
            assert side < border


@st.composite
def scenes(draw):
    w = draw(st.integers(1, 3000))
    h = draw(st.integers(1, 3000))
    # log-uniform factor: down to scaled sides far below half a pixel, up to 4x
    s = math.exp(draw(st.floats(math.log(1e-4), math.log(4.0))))
    chip = draw(st.sampled_from([16, 64, 256]))
    stride = draw(st.integers(1, chip // 4))
    seed = draw(st.integers(0, 2**32 - 1))
    gen = np.random.default_rng(seed)
    n = draw(st.integers(1, 40))
    # boxes up to a few chips of scaled size, many near or over the borders
    xy = gen.uniform(-0.1, 1.05, (n, 2)) * (w, h)
    side = gen.uniform(0.2, 1.5, (n, 2)) * min(chip, 64) / s
    boxes = np.hstack([xy, xy + side])
    return dict(w=w, h=h, s=s, chip=chip, stride=stride, boxes=boxes, seed=seed)


def positive(sc):
    return generate_positive_chips(sc['boxes'], (sc['w'], sc['h']), [sc['s']], [(-1, -1)],
                                   chip_size=sc['chip'], stride=sc['stride'],
                                   rng=np.random.default_rng(sc['seed']))


# Hand-picked cases: a scaled side that rounds down (488 * 0.8 = 390.4 -> 390, the far
# window used to end at 487.5) and one under half a pixel (3 * 0.1 -> 1 px, the box used
# to end at 10 > 3).
EDGE_CASES = [
    dict(w=640, h=488, s=0.8, chip=256, stride=16, seed=0,
         boxes=np.array([[600.0, 450.0, 639.0, 487.0], [10.0, 10.0, 50.0, 50.0]])),
    dict(w=3, h=500, s=0.1, chip=16, stride=2, seed=0,
         boxes=np.array([[0.0, 480.0, 3.0, 500.0]])),
]


@settings(max_examples=150, deadline=None)
@given(sc=scenes())
@example(sc=EDGE_CASES[0])
@example(sc=EDGE_CASES[1])
def test_positive_chips_follow_the_edge_rule(sc):
    for c in positive(sc):
        check_edge_rule(c, sc['w'], sc['h'], sc['chip'])


@settings(max_examples=150, deadline=None)
@given(sc=scenes(), with_positives=st.booleans())
@example(sc=EDGE_CASES[0], with_positives=False)
@example(sc=EDGE_CASES[1], with_positives=False)
def test_negative_chips_follow_the_edge_rule(sc, with_positives):
    pos = positive(sc)[:2] if with_positives else ()
    negs = generate_negative_chips(sc['boxes'], (sc['w'], sc['h']), [sc['s']], [(-1, -1)],
                                   positive_chips=pos, chip_size=sc['chip'],
                                   stride=sc['stride'], min_proposals=0,
                                   rng=np.random.default_rng(sc['seed']))
    for c in negs:
        assert c.kind == 'neg'
        check_edge_rule(c, sc['w'], sc['h'], sc['chip'])


@settings(max_examples=100, deadline=None)
@given(sc=scenes())
@example(sc=EDGE_CASES[0])
@example(sc=EDGE_CASES[1])
def test_simple_mode_random_windows_follow_the_edge_rule(sc):
    # an image without a box that drives a chip gets a random candidate window
    st_ = SniperSettings(scales=(sc['s'],), train_ranges=((-1, -1),), chip_size=sc['chip'],
                         stride=sc['stride'])
    rng = np.random.default_rng(sc['seed'])
    for _ in range(4):
        t = draw_ticket(np.zeros((0, 4)), (sc['w'], sc['h']), st_, rng)
        check_edge_rule(t.chip, sc['w'], sc['h'], sc['chip'])


def test_edge_cases_make_chips_on_the_border():
    """The hand-picked cases do exercise the far border (the properties are not vacuous)."""
    c640 = [c for c in positive(EDGE_CASES[0]) if c.box[3] == 488.0]
    assert c640 and c640[0].scaled_box[3] == 390
    tiny, = positive(EDGE_CASES[1])
    assert tiny.box[0] == 0.0 and tiny.box[2] == 3.0 and tiny.scaled_box[2] == 1


def test_window_box_by_hand():
    # 640 x 488 at 0.8 is 512 x 390 scaled (390.4 rounds down)
    assert window_box((0, 0, 512, 390), 0.8, (640, 488)) == (0.0, 0.0, 640.0, 488.0)
    assert window_box((256, 134, 512, 390), 0.8, (640, 488)) == (320.0, 167.5, 640.0, 488.0)
    assert window_box((0, 0, 256, 256), 0.8, (640, 488)) == (0.0, 0.0, 320.0, 320.0)
    # 641 * 0.8 = 512.8 rounds up to 513: the border side is 641, not 513 / 0.8 = 641.25
    assert window_box((257, 0, 513, 256), 0.8, (641, 488))[2] == 641.0
    # a side under half a pixel: the scaled image is 1 pixel, the box the whole side
    box = window_box((0, 0, 1, 50), 0.1, (3, 500))
    assert box == (0.0, 0.0, 3.0, 500.0)
    assert Chip(0, 0.1, box).scaled_box == (0, 0, 1, 50)


@pytest.mark.parametrize('window', [(0, 0, 513, 390), (0, 0, 512, 391), (-1, 0, 10, 10),
                                    (5, 0, 5, 10), (0.5, 0, 10, 10), (0, 0, 10)])
def test_window_box_rejects_windows_off_the_scaled_image(window):
    with pytest.raises(ValueError, match='window'):
        window_box(window, 0.8, (640, 488))
