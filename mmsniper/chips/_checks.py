"""Argument checks shared by the chip engine; :func:`check_box_shape` also by the model
adapters (NumPy or torch)."""
from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np


def check_box_shape(boxes: Any, name: str = 'boxes') -> None:
    """Raise ValueError unless ``boxes`` (an ndarray or a Tensor) has shape ``(N, 4)``.

    The one (N, 4) test of the package: :func:`as_boxes`, ``BoxTable``, the mergers and the
    test-time range filter call it.
    """
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f'{name}: expected shape (N, 4), got {tuple(boxes.shape)}')


def as_boxes(boxes: Any, name: str = 'boxes') -> np.ndarray:
    """Return ``boxes`` as a float64 ``ndarray[N, 4]``; raise ValueError otherwise.

    An empty array of any 1-D shape (``[]``, ``np.zeros(0)``) is read as ``(0, 4)``
    because that is how annotation loaders spell "no boxes". Non-finite
    coordinates raise a ValueError naming the first offending box.
    """
    try:
        arr = np.asarray(boxes, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f'{name}: expected an array of shape (N, 4), got {type(boxes).__name__} '
                         f'that is not numeric ({err})') from None
    if arr.ndim == 1 and arr.size == 0:
        return arr.reshape(0, 4)
    check_box_shape(arr, name)
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        i = int(np.argmin(finite))
        raise ValueError(f'{name}[{i}] has a non-finite coordinate: {arr[i].tolist()}')
    return arr


def as_image_size(image_size: Any) -> tuple[float, float]:
    """Return ``(w, h)`` as positive finite floats; raise ValueError otherwise."""
    try:
        w, h = image_size
        w, h = float(w), float(h)
    except (TypeError, ValueError):
        raise ValueError(f'image_size: expected (w, h), got {image_size!r}') from None
    if not (math.isfinite(w) and math.isfinite(h) and w > 0 and h > 0):
        raise ValueError(f'image_size: expected positive finite (w, h), got {image_size!r}')
    return w, h


def as_positive_int(value: Any, name: str) -> int:
    """Return ``value`` as a positive int; whole-valued floats are accepted."""
    if isinstance(value, bool) or not isinstance(value, (Real, np.integer, np.floating)):
        raise ValueError(f'{name}: expected a positive integer, got {value!r}')
    if not math.isfinite(value) or value <= 0 or int(value) != value:
        raise ValueError(f'{name}: expected a positive integer, got {value!r}')
    return int(value)


def as_nonneg_float(value: Any, name: str) -> float:
    """Return ``value`` as a finite float >= 0; raise ValueError otherwise."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f'{name}: expected a number >= 0, got {value!r}') from None
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f'{name}: expected a number >= 0, got {value!r}')
    return v


def as_nonneg_int(value: Any, name: str) -> int:
    """Return ``value`` as an int >= 0; whole-valued floats are accepted."""
    if isinstance(value, bool) or not isinstance(value, (Real, np.integer, np.floating)):
        raise ValueError(f'{name}: expected an integer >= 0, got {value!r}')
    if not math.isfinite(value) or value < 0 or int(value) != value:
        raise ValueError(f'{name}: expected an integer >= 0, got {value!r}')
    return int(value)


def as_fraction(value: Any, name: str) -> float:
    """Return ``value`` as a float in ``[0, 1]``; raise ValueError otherwise."""
    v = as_nonneg_float(value, name)
    if v > 1.0:
        raise ValueError(f'{name}: expected a fraction in [0, 1], got {value!r}')
    return v


def as_stride(stride: Any, chip_size: int, name: str = 'stride') -> int:
    """Return the candidate grid step as an int in ``1 .. chip_size - 2``.

    The cover's fit condition admits a box only when it is shorter than
    ``chip_size - stride - 1`` along an axis longer than the chip, so a larger
    stride would admit no box at all.
    """
    stride = as_positive_int(stride, name)
    if stride >= chip_size - 1:
        raise ValueError(f'{name}: expected less than chip_size - 1 = {chip_size - 1}, '
                         f'got {stride}')
    return stride
