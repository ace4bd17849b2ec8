"""The :class:`Chip` record and chip pixel accounting."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

from ._checks import as_positive_int

KINDS = ('pos', 'neg')


@dataclass(frozen=True, slots=True)
class Chip:
    """One chip: a window of one pyramid level of one image.

    Immutable, hashable and picklable, so it can travel inside chip tickets to
    dataloader workers. Chips made by this package have an integer-aligned window
    in scaled pixels; ``box`` is that window divided by ``scale``.

    Args:
        level (int): index of the level in the scales it was made for.
        scale (float): the level's factor ``s`` (scaled = original * s).
        box (tuple[float, float, float, float]): ``(x1, y1, x2, y2)`` of the window
            in ORIGINAL pixels.
        kind (str): ``'pos'`` (positive chip) or ``'neg'`` (negative chip: every
            ground truth in it is ignored).
    """

    level: int
    scale: float
    box: tuple[float, float, float, float]
    kind: str = 'pos'

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Chip.kind: expected 'pos' or 'neg', got {self.kind!r}")
        try:
            box = tuple(float(v) for v in self.box)
        except (TypeError, ValueError):
            raise ValueError(f'Chip.box: expected (x1, y1, x2, y2), got {self.box!r}') from None
        if len(box) != 4 or not all(math.isfinite(v) for v in box):
            raise ValueError(f'Chip.box: expected 4 finite numbers, got {self.box!r}')
        scale = float(self.scale)
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f'Chip.scale: expected a positive factor, got {self.scale!r}')
        # Plain Python types: equal chips hash equal and pickle small.
        object.__setattr__(self, 'level', int(self.level))
        object.__setattr__(self, 'scale', scale)
        object.__setattr__(self, 'box', box)

    @classmethod
    def _trusted(cls, level: int, scale: float, box: tuple[float, float, float, float],
                 kind: str = 'pos') -> Chip:
        """Build without checks from plain Python values (the cover's hot loop)."""
        chip = object.__new__(cls)
        object.__setattr__(chip, 'level', level)
        object.__setattr__(chip, 'scale', scale)
        object.__setattr__(chip, 'box', box)
        object.__setattr__(chip, 'kind', kind)
        return chip

    @property
    def scaled_box(self) -> tuple[int, int, int, int]:
        """``(x1, y1, x2, y2)`` of the crop window in SCALED pixels, whole pixels.

        ``box * scale`` rounded to the nearest pixel (exact for chips made here).
        """
        s = self.scale
        x1, y1, x2, y2 = (math.floor(v * s + 0.5) for v in self.box)
        return x1, y1, x2, y2

    @property
    def scaled_size(self) -> tuple[int, int]:
        """``(w, h)`` of the crop in scaled pixels, each at most the chip size."""
        x1, y1, x2, y2 = self.scaled_box
        return x2 - x1, y2 - y1


def chip_pixels(chips: Iterable[Chip], chip_size: int = 512, padded: bool = True) -> int:
    """Pixels the network processes for ``chips``.

    Args:
        chips (Iterable[Chip]): the chips.
        chip_size (int): side of the padded chip in scaled pixels.
        padded (bool): count every chip as ``chip_size ** 2`` (what the network
            sees after zero padding) when True; count only the crop,
            ``scaled_w * scaled_h``, when False.

    Returns:
        int: the pixel count.
    """
    chip_size = as_positive_int(chip_size, 'chip_size')
    if padded:
        return sum(1 for _ in chips) * chip_size * chip_size
    total = 0
    for c in chips:
        w, h = c.scaled_size
        total += w * h
    return total
