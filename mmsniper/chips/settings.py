"""SNIPER's settings as one validated value: :class:`SniperSettings`.

A config's ``sniper = dict(...)`` block, the arguments of ``SniperDataset`` and of a
simple-mode ``ChipGenerator``, the test pyramid and the scale advisor's proposals are all
read through :meth:`SniperSettings.from_dict`, so every rule about which values are
accepted, and how they fit together, lives here once: what a config may say is exactly
what the chip engine accepts.

Frames: scales map ORIGINAL pixels to SCALED pixels (see :func:`~.scales.scale_factor`);
ranges are ``sqrt(w * h)`` in ORIGINAL pixels; ``chip_size``, ``stride`` and ``min_size``
are SCALED (chip) pixels.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Optional, Tuple, Union

import numpy as np

from ._checks import (
    as_fraction,
    as_nonneg_float,
    as_nonneg_int,
    as_positive_int,
    as_stride,
)
from .negative import REFERENCE_MIN_PROPOSALS
from .scales import Scale, _factor, level_bounds, normalize_ranges


def _pairs(value: Any, where: str) -> tuple:
    try:
        items = [tuple(v) if isinstance(v, (list, tuple)) else v for v in value]
    except TypeError:
        raise ValueError(f'{where}: expected a list, got {value!r}') from None
    return tuple(items)


def _scales(value: Any, where: str) -> tuple:
    if isinstance(value, (str, bytes)) or not hasattr(value, '__iter__'):
        raise ValueError(f'{where}: expected a list of scales, got {value!r}')
    items = _pairs(value, where)
    if not items:
        raise ValueError(f'{where}: expected at least one scale, got []')
    for i, sc in enumerate(items):
        try:
            _factor(1.0, 1.0, sc)  # the engine's own check of a scale's form
        except ValueError as err:
            raise ValueError(f'{where}[{i}]: {err}') from None
    return items


def _ranges(value: Any, levels: int, where: str, scales_key: str) -> tuple:
    if isinstance(value, (str, bytes)) or not hasattr(value, '__iter__'):
        raise ValueError(f'{where}: expected a list of (lo, hi) pairs, got {value!r}')
    items = _pairs(value, where)
    level_bounds(items, levels, where, f'scale of {scales_key}')
    return items


def _min_proposals(value: Any, levels: int, where: str) -> Union[None, int, tuple]:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        vals = tuple(as_nonneg_int(v, f'{where}[{i}]') for i, v in enumerate(value))
        if len(vals) != levels:
            raise ValueError(f'{where}: expected an int or one count per scale ({levels}), '
                             f'got {list(value)}')
        return vals
    return as_nonneg_int(value, where)


@dataclass(frozen=True)
class SniperSettings:
    """Every SNIPER setting, checked together (the ``sniper`` block of a config).

    Build it with :meth:`from_dict` (errors name the config key). Equal settings
    compare equal; the object is immutable and picklable.

    Args:
        scales (tuple): training levels, finest first: a factor, or a ``(short, long)``
            resolution (``(-1, L)``: longest side ``L``). Reference:
            ``((1400, 2000), (800, 1280), (-1, 512))``.
        train_ranges (tuple): one ``(lo, hi)`` per training level, ORIGINAL pixels of
            ``sqrt(w * h)``, ``-1`` open; a level trains ``lo <= size < hi``.
        chip_size (int): chip side, scaled pixels. Default 512.
        stride (int): candidate chip grid step, scaled pixels, ``< chip_size - 1``.
            Default 32.
        test_scales (tuple): the test pyramid, one scale per level.
        test_ranges (tuple): one ``(lo, hi)`` per test level; a level keeps detections
            with ``lo < size <= hi``.
        min_size (float): least width and height, scaled (chip) pixels, of a box that
            drives a chip and that a chip trains on. Default 10 (the reference drops
            boxes under 10 pixels after clipping; here they are ignored).
        min_visible (float): least fraction of a box inside a chip for it to be
            trained on there. Default 0.5.
        neg_chips_per_img (int): negative chips drawn per image and epoch (0: off).
        proposals (str | None): proposal file for negative chips.
        neg_min_proposals (int | tuple | None): a negative chip needs MORE proposals
            than this, per training level; None: the reference (25 at the finest
            level, 10 at the others).
    """

    scales: tuple = ((1400, 2000), (800, 1280), (-1, 512))
    train_ranges: tuple = ((-1, 80), (32, 150), (120, -1))
    chip_size: int = 512
    stride: int = 32
    test_scales: tuple = ((1400, 2000), (800, 1280), (480, 512))
    test_ranges: tuple = ((-1, 90), (32, 180), (75, -1))
    min_size: float = 10.0
    min_visible: float = 0.5
    neg_chips_per_img: int = 0
    proposals: Optional[str] = None
    neg_min_proposals: Union[None, int, Tuple[int, ...]] = None
    _train_bounds: np.ndarray = field(init=False, repr=False, compare=False)
    _test_bounds: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        values = _checked({f.name: getattr(self, f.name) for f in fields(self) if f.init},
                          'SniperSettings')
        for key, value in values.items():
            object.__setattr__(self, key, value)
        for key, ranges in (('_train_bounds', self.train_ranges),
                            ('_test_bounds', self.test_ranges)):
            arr = normalize_ranges(ranges)
            arr.flags.writeable = False
            object.__setattr__(self, key, arr)

    # -- building -------------------------------------------------------------------------
    @classmethod
    def keys(cls) -> tuple:
        """The setting names, in declaration order."""
        return tuple(f.name for f in fields(cls) if f.init)

    @classmethod
    def from_dict(cls, values: Optional[Mapping[str, Any]] = None,
                  where: str = 'sniper') -> SniperSettings:
        """Settings from a config dict; missing keys take the defaults.

        Args:
            values (Mapping | None): some of :meth:`keys`.
            where (str): the config path of ``values``, named in every error
                (``'sniper'``, ``'train_dataloader.dataset'``, ...).

        Raises:
            ValueError: an unknown key (with a "did you mean" hint), or a value the
                engine would refuse, naming ``where.key``.
        """
        values = dict(values or {})
        check_keys(values, where)
        return cls(**_checked({**_defaults(), **values}, where))

    def replace(self, **changes: Any) -> SniperSettings:
        """A copy with ``changes`` applied (checked like :meth:`from_dict`)."""
        return type(self).from_dict({**self.as_dict(), **changes}, where='SniperSettings')

    # -- derived values -------------------------------------------------------------------
    @property
    def num_levels(self) -> int:
        """Training levels."""
        return len(self.scales)

    @property
    def train_bounds(self) -> np.ndarray:
        """ndarray[L, 2] float64, read-only: ``train_ranges`` with open ends ``0``/``inf``."""
        return self._train_bounds

    @property
    def test_bounds(self) -> np.ndarray:
        """ndarray[T, 2] float64, read-only: ``test_ranges`` with open ends ``0``/``inf``."""
        return self._test_bounds

    @property
    def min_proposals(self) -> tuple:
        """``neg_min_proposals`` as one count per training level."""
        v = self.neg_min_proposals
        if v is None:
            # the reference's rule (25 finest, 10 others) for any number of levels
            return tuple(REFERENCE_MIN_PROPOSALS[min(k, 1)] for k in range(self.num_levels))
        if isinstance(v, tuple):
            return v
        return (v, ) * self.num_levels

    def as_dict(self, keys: Optional[tuple] = None) -> dict:
        """The settings as a config's ``sniper`` block: lists, tuples and numbers."""
        out = {}
        for key in keys or self.keys():
            v = getattr(self, key)
            out[key] = list(v) if key in _LIST_KEYS else v
        return out

    def differs(self, key: str, value: Any, where: str) -> bool:
        """Whether a component's explicit ``value`` for ``key`` means another setting.

        ``value`` is checked with the same rules (an invalid value raises, naming
        ``where``); ranges compare by their bounds (``-1``, ``None`` and ``inf`` alike).
        """
        mine = getattr(self, key)
        levels = {'train_ranges': self.num_levels, 'neg_min_proposals': self.num_levels,
                  'test_ranges': len(self.test_scales)}
        theirs = _check_one(key, value, levels.get(key, 0), where)
        if key in ('train_ranges', 'test_ranges'):
            return not np.array_equal(normalize_ranges(theirs), normalize_ranges(mine))
        if key == 'neg_min_proposals':
            return self.replace(neg_min_proposals=theirs).min_proposals != self.min_proposals
        return theirs != mine


_LIST_KEYS = ('scales', 'train_ranges', 'test_scales', 'test_ranges')


def _defaults() -> dict:
    return {f.name: f.default for f in fields(SniperSettings) if f.init}


def check_keys(values: Mapping[str, Any], where: str) -> None:
    """Raise a ValueError for a key that is not a setting, with a "did you mean" hint."""
    known = SniperSettings.keys()
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ''
            raise ValueError(f'{where}.{key}: unknown SNIPER setting; {hint}'
                             f'known: {", ".join(known)}')


def _check_one(key: str, value: Any, levels: int, where: str) -> Any:
    """One setting, checked alone (cross-key rules need ``levels``)."""
    name = f'{where}.{key}'
    if key in ('scales', 'test_scales'):
        return _scales(value, name)
    if key in ('train_ranges', 'test_ranges'):
        scales_key = 'scales' if key == 'train_ranges' else 'test_scales'
        return _ranges(value, levels, name, f'{where}.{scales_key}')
    if key == 'chip_size':
        return as_positive_int(value, name)
    if key == 'stride':
        return as_positive_int(value, name)  # against chip_size in _checked
    if key == 'min_size':
        return as_nonneg_float(value, name)
    if key == 'min_visible':
        return as_fraction(value, name)
    if key == 'neg_chips_per_img':
        return as_nonneg_int(value, name)
    if key == 'proposals':
        if value is not None and not (isinstance(value, str) and value):
            raise ValueError(f'{name}: expected a proposal file path or None, got {value!r}')
        return value
    if key == 'neg_min_proposals':
        return _min_proposals(value, levels, name)
    raise ValueError(f'{name}: unknown SNIPER setting')  # pragma: no cover


def _checked(values: dict, where: str) -> dict:
    """Every rule, in one place: each value alone, then how they fit together."""
    out = dict(values)
    out['scales'] = _check_one('scales', values['scales'], 0, where)
    out['test_scales'] = _check_one('test_scales', values['test_scales'], 0, where)
    levels = len(out['scales'])
    for key in ('train_ranges', 'neg_min_proposals'):
        out[key] = _check_one(key, values[key], levels, where)
    out['test_ranges'] = _check_one('test_ranges', values['test_ranges'],
                                    len(out['test_scales']), where)
    for key in ('chip_size', 'min_size', 'min_visible', 'neg_chips_per_img', 'proposals'):
        out[key] = _check_one(key, values[key], levels, where)
    out['stride'] = as_stride(values['stride'], out['chip_size'], f'{where}.stride')
    if out['neg_chips_per_img'] > 0 and out['proposals'] is None:
        raise ValueError(f'{where}.neg_chips_per_img = {out["neg_chips_per_img"]} needs a '
                         f'proposal file: set {where}.proposals (tools/extract_proposals.py '
                         'writes one; see README "Negative chips")')
    return out


__all__ = ['SniperSettings', 'check_keys', 'Scale']
