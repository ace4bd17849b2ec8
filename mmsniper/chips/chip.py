"""The :class:`Chip` record, the rule that turns a chip window into its box, and chip pixel
accounting.

Frames: "original" pixels are the image file's; "scaled" pixels are original x the level's
factor ``s``.

The edge rule (every chip this package makes follows it; :func:`window_box` applies it).
A chip is cut from a whole-pixel window ``[X1, X2] x [Y1, Y2]`` of the scaled image,
``0 <= X1 < X2 <= sw``, where ``(sw, sh) = scaled_image_size((W, H), s)``. Its ``box`` in
ORIGINAL pixels is ``X / s`` for every side, except that a side on the scaled image's far
border (``X2 == sw``) is the image's border ``W`` (``Y2 == sh``: ``H``). Then:

1. The box lies in ``[0, W] x [0, H]``. ``sw = floor(W * s + 0.5)`` when ``W * s >= 0.5``,
   so a side off the border is a whole ``X <= sw - 1 <= W * s - 0.5`` and
   ``X / s <= W - 0.5 / s < W``. When ``W * s < 0.5`` the scaled side is one pixel
   (``sw = 1``), its only window is ``[0, 1]`` and the box is ``[0, W]``.
2. :attr:`Chip.scaled_box` gives the window back. ``X / s * s`` rounds to ``X``; ``W * s``
   rounds to ``floor(W * s + 0.5) = sw`` when ``W * s >= 0.5``; when ``W * s < 0.5`` it
   rounds to 0 and ``scaled_box`` keeps the crop one pixel wide, ``[0, 1]``.
3. The box covers what the chip's crop shows. The scaled image is the whole image, ``W``
   original pixels, resampled to ``sw`` pixels, so a window reaching ``sw`` shows the
   image up to its edge ``W``. ``sw / s`` would not: it misses up to ``0.5 / s`` original
   pixels when ``W * s`` rounds down (640 x 488 at ``s = 0.8``: ``390 / 0.8 = 487.5``)
   and runs past the image when it rounds up or when ``W * s < 0.5`` (``1 / s > W``).
   :class:`~mmsniper.datasets.ChipGenerator` cuts the ORIGINAL window ``box`` and
   resamples it so that each side of the crop is within one crop pixel of the box's, and
   exactly on the image's border where the box is (its ``_cut`` says why).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

from ._checks import as_image_size, as_positive_int
from .scales import scaled_image_size

KINDS = ('pos', 'neg')


@dataclass(frozen=True, slots=True)
class Chip:
    """One chip: a window of one pyramid level of one image.

    Immutable, hashable and picklable, so it can travel inside chip tickets to
    dataloader workers. Chips made by this package have an integer-aligned window
    in scaled pixels; ``box`` is that window in original pixels by the edge rule of
    :func:`window_box` (the window divided by ``scale``, a side on the image's far
    border at the border), so it lies inside the image.

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

        ``box * scale`` rounded half up, at least one pixel per side: the window the
        chip was made from (see :func:`window_box`, point 2).
        """
        s = self.scale
        x1, y1, x2, y2 = (math.floor(v * s + 0.5) for v in self.box)
        return x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)

    @property
    def scaled_size(self) -> tuple[int, int]:
        """``(w, h)`` of the crop in scaled pixels, each at most the chip size."""
        x1, y1, x2, y2 = self.scaled_box
        return x2 - x1, y2 - y1


def window_box(window: tuple[float, float, float, float], scale: float,
               image_size: tuple[float, float]) -> tuple[float, float, float, float]:
    """ORIGINAL-pixel ``box`` of the chip cut from a whole-pixel window of the scaled image.

    The module's edge rule: ``window / scale``, except that a side on the scaled image's far
    border is the image's border. The module docstring proves that the box then lies inside
    the image, gives the window back through :attr:`Chip.scaled_box`, and covers what the
    chip's crop shows.

    Args:
        window (tuple[float, float, float, float]): ``(x1, y1, x2, y2)`` in SCALED pixels,
            whole numbers, ``0 <= x1 < x2 <= sw`` and ``0 <= y1 < y2 <= sh`` where
            ``(sw, sh) = scaled_image_size(image_size, scale)``.
        scale (float): the level's factor ``s``.
        image_size (tuple[float, float]): ``(W, H)`` of the original image.

    Returns:
        tuple[float, float, float, float]: ``(x1, y1, x2, y2)`` in ORIGINAL pixels, inside
        ``[0, W] x [0, H]``.
    """
    w, h = as_image_size(image_size)
    sw, sh = scaled_image_size((w, h), scale)
    try:
        x1, y1, x2, y2 = (float(v) for v in window)
    except (TypeError, ValueError):
        raise ValueError(f'window: expected (x1, y1, x2, y2), got {window!r}') from None
    if not all(math.isfinite(v) and v == int(v) for v in (x1, y1, x2, y2)):
        raise ValueError(f'window: expected whole scaled pixels, got {window!r}')
    if not (0 <= x1 < x2 <= sw and 0 <= y1 < y2 <= sh):
        raise ValueError(f'window: expected 0 <= x1 < x2 <= {sw} and 0 <= y1 < y2 <= {sh} '
                         f'(the {sw}x{sh} scaled image of a {w:g}x{h:g} image at scale '
                         f'{scale!r}), got {window!r}')
    return _window_box(x1, y1, x2, y2, float(scale), w, h, sw, sh)


def _window_box(x1: float, y1: float, x2: float, y2: float, s: float, w: float, h: float,
                sw: int, sh: int) -> tuple[float, float, float, float]:
    """:func:`window_box` without checks (the covers' loops)."""
    return x1 / s, y1 / s, (w if x2 >= sw else x2 / s), (h if y2 >= sh else y2 / s)


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
