"""``BoxTable``: boxes of many images as a few flat arrays (ground truth and proposals).

One ragged table type for everything that holds "the boxes of image ``i``": the
annotations ``SniperDataset`` plans chips from, the annotations the scale advisor reads,
and proposal files for negative chips. At COCO's scale (118k images, 860k boxes; 35M
proposals) it stays a handful of NumPy arrays, never Python objects per box.

Frame: ORIGINAL pixels, ``(x1, y1, x2, y2)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ._checks import check_box_shape
from .scales import box_sizes


@dataclass(frozen=True, eq=False)
class BoxTable:
    """Boxes grouped by image: the boxes of image ``i`` are ``boxes[offsets[i]:offsets[i + 1]]``.

    Attributes:
        boxes (ndarray[N, 4] float): ``(x1, y1, x2, y2)`` in ORIGINAL pixels.
        offsets (ndarray[I + 1] int64): increasing from 0 to ``N``.
        image_ids (ndarray[I] int64 | None): each image's id (COCO ids, or a data set's
            ``img_id``); None: the row number.
        image_sizes (ndarray[I, 2] float64 | None): ``(w, h)`` of each image.
        ignore (ndarray[N] bool | None): boxes that never drive a chip (crowd).
        scores (ndarray[N] float32 | None): a score per box (proposals).
        levels (ndarray[N] int8 | None): the pyramid level that produced a box (-1:
            unknown; proposals).
        source (str): where the table came from (file name), for messages.
    """

    boxes: np.ndarray
    offsets: np.ndarray
    image_ids: Optional[np.ndarray] = None
    image_sizes: Optional[np.ndarray] = None
    ignore: Optional[np.ndarray] = None
    scores: Optional[np.ndarray] = None
    levels: Optional[np.ndarray] = None
    source: str = '<memory>'
    _rows: Dict[int, int] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        b, off = self.boxes, self.offsets
        check_box_shape(b, f'{self.source}: boxes')
        if off.ndim != 1 or len(off) == 0 or off[0] != 0 or off[-1] != len(b) or (
                len(off) > 1 and np.any(np.diff(off) < 0)):
            raise ValueError(f'{self.source}: offsets must increase from 0 to the number of '
                             f'boxes ({len(b)}), got shape {off.shape}')
        n_img = len(off) - 1
        for name, arr, shape in (('image_ids', self.image_ids, (n_img,)),
                                 ('image_sizes', self.image_sizes, (n_img, 2)),
                                 ('ignore', self.ignore, (len(b),)),
                                 ('scores', self.scores, (len(b),)),
                                 ('levels', self.levels, (len(b),))):
            if arr is not None and arr.shape != shape:
                raise ValueError(f'{self.source}: {name} has shape {arr.shape}, expected '
                                 f'{shape}')

    @classmethod
    def from_lists(cls, boxes: Sequence[np.ndarray], image_ids: Optional[Sequence[int]] = None,
                   image_sizes: Optional[Sequence[Sequence[float]]] = None,
                   ignore: Optional[Sequence[np.ndarray]] = None,
                   scores: Optional[Sequence[np.ndarray]] = None,
                   levels: Optional[Sequence[np.ndarray]] = None, source: str = '<memory>',
                   dtype: type = np.float64) -> BoxTable:
        """A table from per-image arrays (``boxes[i]``: ``[n_i, 4]``, ``ignore[i]``: ``[n_i]``)."""
        counts = np.array([len(np.asarray(b).reshape(-1, 4)) for b in boxes], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

        def cat(parts, kind, width=None):
            if parts is None:
                return None
            shape = (-1, width) if width else (-1, )
            arrs = [np.asarray(p, kind).reshape(shape) for p in parts]
            empty = np.zeros((0, width) if width else (0, ), kind)
            return np.concatenate(arrs) if arrs else empty

        return cls(cat(boxes, dtype, 4), offsets,
                   None if image_ids is None else np.asarray(image_ids, np.int64),
                   None if image_sizes is None else
                   np.asarray(image_sizes, np.float64).reshape(-1, 2),
                   cat(ignore, bool), cat(scores, np.float32), cat(levels, np.int8), source)

    # -- images -----------------------------------------------------------------------------
    def __len__(self) -> int:
        """Number of images."""
        return len(self.offsets) - 1

    @property
    def num_images(self) -> int:
        return len(self)

    @property
    def counts(self) -> np.ndarray:
        """ndarray[I] int64: boxes per image."""
        return np.diff(self.offsets)

    @property
    def box_image(self) -> np.ndarray:
        """ndarray[N] int64: the image (row) of each box."""
        return np.repeat(np.arange(len(self)), self.counts)

    def image_boxes(self, i: int) -> np.ndarray:
        """ndarray[n, 4]: the boxes of image ``i`` (a view), ORIGINAL pixels."""
        return self.boxes[self.offsets[i]:self.offsets[i + 1]]

    def chip_boxes(self, i: int) -> np.ndarray:
        """ndarray[n', 4]: the boxes of image ``i`` that drive chips (not ``ignore``)."""
        b = self.image_boxes(i)
        if self.ignore is None:
            return b
        return b[~self.ignore[self.offsets[i]:self.offsets[i + 1]]]

    def image_size(self, i: int) -> tuple:
        """``(w, h)`` of image ``i`` as floats."""
        if self.image_sizes is None:
            raise ValueError(f'{self.source}: the table has no image sizes')
        w, h = self.image_sizes[i]
        return float(w), float(h)

    def sizes(self) -> np.ndarray:
        """ndarray[N] float64: ``sqrt(w * h)`` of every box (:func:`~.scales.box_sizes`)."""
        return box_sizes(np.asarray(self.boxes, np.float64))

    # -- ids --------------------------------------------------------------------------------
    def row_of(self, image_id: int) -> Optional[int]:
        """The row of ``image_id``, or None when the table has no such image."""
        if self.image_ids is None:
            i = int(image_id)
            return i if 0 <= i < len(self) else None
        if not self._rows and len(self):
            self._rows.update((int(k), r) for r, k in enumerate(self.image_ids.tolist()))
        return self._rows.get(int(image_id))

    def get(self, image_id: int) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """``(boxes ndarray[P, 4], scores ndarray[P] | None)`` of ``image_id``; empty (not
        an error) when the table has no such image."""
        r = self.row_of(image_id)
        if r is None:
            empty = None if self.scores is None else self.scores[:0]
            return self.boxes[:0], empty
        a, b = self.offsets[r], self.offsets[r + 1]
        return self.boxes[a:b], None if self.scores is None else self.scores[a:b]

    def rows_of(self, image_ids: Sequence[int]) -> np.ndarray:
        """ndarray[M] int64: :meth:`row_of` of each id, -1 where the table has none."""
        rows = (self.row_of(i) for i in image_ids)
        return np.array([-1 if r is None else r for r in rows], dtype=np.int64)
