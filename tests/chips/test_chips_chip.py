"""The Chip record and pixel accounting."""
import pickle

import numpy as np
import pytest

from mmsniper.chips import Chip, chip_pixels


def test_chip_is_frozen_hashable_and_picklable():
    c = Chip(level=1, scale=np.float64(2.0), box=np.array([10, 20, 266, 276]), kind='neg')
    assert c.box == (10.0, 20.0, 266.0, 276.0) and type(c.box[0]) is float
    assert type(c.scale) is float and type(c.level) is int
    with pytest.raises(AttributeError):
        c.level = 2  # type: ignore[misc]
    same = Chip(1, 2.0, (10, 20, 266, 276), 'neg')
    assert c == same and hash(c) == hash(same) and len({c, same}) == 1
    assert Chip(1, 2.0, (10, 20, 266, 276)) != c  # kind matters
    back = pickle.loads(pickle.dumps(c))
    assert back == c and back.kind == 'neg'


def test_scaled_box_and_size():
    s = 1400 / 480
    c = Chip(0, s, (1355 / s, 888 / s, 640.0, 480.0))  # box clipped to a 640x480 image
    assert c.scaled_box == (1355, 888, 1867, 1400)  # 640 * s = 1866.67 rounds to 1867
    assert c.scaled_size == (512, 512)
    small = Chip(2, 0.8, (0.0, 0.0, 640.0, 480.0))
    assert small.scaled_box == (0, 0, 512, 384) and small.scaled_size == (512, 384)


@pytest.mark.parametrize('kwargs', [dict(kind='positive'), dict(box=(0, 0, 1)),
                                    dict(box=(0, 0, 1, np.inf)), dict(scale=0.0),
                                    dict(box='abcd')])
def test_chip_rejects_bad_fields(kwargs):
    args = dict(level=0, scale=1.0, box=(0, 0, 10, 10))
    args.update(kwargs)
    with pytest.raises(ValueError, match='Chip'):
        Chip(**args)


def test_chip_pixels_padded_and_unpadded():
    chips = [Chip(0, 2.0, (0, 0, 256, 256)), Chip(2, 0.8, (0, 0, 640, 480))]
    assert chip_pixels(chips) == 2 * 512 * 512
    assert chip_pixels(iter(chips), chip_size=256) == 2 * 256 * 256
    assert chip_pixels(chips, padded=False) == 512 * 512 + 512 * 384
    assert chip_pixels([]) == 0
    with pytest.raises(ValueError, match='chip_size'):
        chip_pixels(chips, chip_size=0)
