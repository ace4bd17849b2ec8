"""ChipGenerator's crop agrees with ``chip.box`` (the edge rule, mmsniper/chips/chip.py): each
side of the filled part is within one crop pixel of the box's side, and exactly on the
image's border where the box is. Random image sizes and scales, tiny scaled sides
included, positive and negative chips."""
import math

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mmsniper.chips import Chip, generate_negative_chips, generate_positive_chips
from mmsniper.datasets import ChipGenerator

EPS = 1e-9


def crop_sides(chip: Chip, img: np.ndarray, chip_size: int):
    """What the chip shows: ``(x1, y1, x2, y2)`` ORIGINAL pixels of its filled part, and the
    crop's resize factors ``(sx, sy)``."""
    # _cut is the crop computation itself (the rest of transform() maps boxes with its map)
    out, (sx, sy, tx, ty), (ph, pw) = ChipGenerator()._cut(img, chip, chip_size)
    # the filled part is what _cut says: the image is all 255, the padding 0
    filled = np.argwhere(out > 0)
    assert filled.min(axis=0).tolist() == [0, 0]
    assert filled.max(axis=0).tolist() == [ph - 1, pw - 1] and len(filled) == ph * pw
    return (-tx / sx, -ty / sy, (pw - tx) / sx, (ph - ty) / sy), (sx, sy)


def check_crop(chip: Chip, img: np.ndarray, chip_size: int) -> None:
    h, w = img.shape
    (x1, y1, x2, y2), (sx, sy) = crop_sides(chip, img, chip_size)
    b = chip.box
    assert 0 <= b[0] < b[2] <= w and 0 <= b[1] < b[3] <= h, (chip, w, h)
    # each side within one crop pixel of the box's side
    for got, want, f in ((x1, b[0], sx), (y1, b[1], sy), (x2, b[2], sx), (y2, b[3], sy)):
        assert abs(got - want) * f <= 1 + EPS, (chip, w, h, (x1, y1, x2, y2))
    # on the image's border where the box is
    for got, want, border in ((x1, b[0], 0), (y1, b[1], 0), (x2, b[2], w), (y2, b[3], h)):
        if want == border:
            assert abs(got - border) <= 1e-6, (chip, w, h, (x1, y1, x2, y2))


@st.composite
def scenes(draw):
    w = draw(st.integers(1, 2500))
    h = draw(st.integers(1, 2500))
    s = math.exp(draw(st.floats(math.log(1e-3), math.log(4.0))))
    chip = draw(st.sampled_from([32, 128]))
    seed = draw(st.integers(0, 2**32 - 1))
    gen = np.random.default_rng(seed)
    n = draw(st.integers(1, 12))
    xy = gen.uniform(-0.1, 1.05, (n, 2)) * (w, h)
    side = gen.uniform(0.2, 1.5, (n, 2)) * chip / 3 / s
    return dict(w=w, h=h, s=s, chip=chip, boxes=np.hstack([xy, xy + side]), seed=seed)


@settings(max_examples=120, deadline=None)
@given(sc=scenes())
# the crop used to drift from the box by 15 scaled pixels here (resize factor n / L != s)
@example(sc=dict(w=2369, h=704, s=2.0371089920455216, chip=128, seed=1,
                 boxes=np.array([[2300.0, 640.0, 2330.0, 670.0], [5.0, 5.0, 30.0, 30.0]])))
# a side that rounds down (488 * 0.8 = 390.4) and one under half a scaled pixel
@example(sc=dict(w=640, h=488, s=0.8, chip=128, seed=0,
                 boxes=np.array([[600.0, 450.0, 639.0, 487.0]])))
@example(sc=dict(w=3, h=500, s=0.1, chip=32, seed=0, boxes=np.array([[0.0, 480.0, 3.0, 500.0]])))
def test_crop_agrees_with_the_box(sc):
    w, h, s, chip_size = sc['w'], sc['h'], sc['s'], sc['chip']
    rng = np.random.default_rng(sc['seed'])
    stride = chip_size // 8
    pos = generate_positive_chips(sc['boxes'], (w, h), [s], [(-1, -1)], chip_size=chip_size,
                                  stride=stride, rng=rng)
    neg = generate_negative_chips(sc['boxes'], (w, h), [s], [(-1, -1)], chip_size=chip_size,
                                  stride=stride, min_proposals=0, rng=rng)
    img = np.full((h, w), 255, np.uint8)
    for c in pos + neg:
        check_crop(c, img, chip_size)
