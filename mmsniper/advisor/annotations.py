"""The scale advisor's input: a COCO-format annotation file as a :class:`BoxSet`.

Reads the file with the ``json`` module (no pycocotools, no pixels) and keeps the boxes that
drive positive chips in training, as training keeps them: the bad ones are classified and
counted by the shared annotation policy (:mod:`mmsniper.annotations`). Boxes in ORIGINAL
pixels, ``(x1, y1, x2, y2)``. NumPy only.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..annotations import AnnotationAudit, classify_boxes
from ..chips import BoxTable


@dataclass(frozen=True, eq=False)
class BoxSet(BoxTable):
    """The boxes of a COCO-format annotation file: a :class:`~mmsniper.chips.BoxTable`
    (images in file order, ``image_ids`` and ``image_sizes`` set) plus the annotation audit.

    Only the boxes that drive positive chips in training are kept: the shared annotation
    policy (:mod:`mmsniper.annotations`) leaves out what MMDetection's ``CocoDataset``
    drops (no overlap with the image, ``area <= 0``, width or height below 1 pixel, an
    unknown category, non-finite coordinates, ``ignore``) and crowd boxes, which never drive
    a chip. Those are counted in ``audit`` instead, as training counts them.

    Attributes:
        audit (AnnotationAudit): annotations (and images) not used, by kind, with the
            first ids; ``audit.report()`` is the line training logs.
    """

    audit: AnnotationAudit = field(default_factory=AnnotationAudit)

    @property
    def skipped(self) -> dict:
        """``{kind: count}`` of what is not used (kinds of :mod:`mmsniper.annotations`)."""
        return dict(self.audit.counts)

    @property
    def examples(self) -> dict:
        """``{kind: first ids}``."""
        return {k: list(v) for k, v in self.audit.ids.items()}


def _err(source: str, msg: str) -> ValueError:
    return ValueError(f'{source}: {msg}')


def load_coco_boxes(path: str, skip_unknown_images: bool = False) -> BoxSet:
    """Read a COCO-format annotation file into a :class:`BoxSet`.

    Args:
        path (str): the JSON file (``images``, ``annotations``, optional ``categories``).
        skip_unknown_images (bool): count and skip annotations whose ``image_id`` names
            no image; by default they raise (the file is probably a bad merge).

    Returns:
        BoxSet: the training boxes, images in file order.

    Raises:
        ValueError: naming the problem: missing or empty file, broken JSON, missing
            keys (``images``, ``annotations``, ``bbox``, ``width``/``height``, ...),
            unknown image ids, no usable box at all.
    """
    if not os.path.isfile(path):
        raise ValueError(f'{path}: no such annotation file')
    if os.path.getsize(path) == 0:
        raise _err(path, 'the file is empty (0 bytes); expected COCO-format JSON with '
                         '"images" and "annotations"')
    with open(path, 'rb') as f:
        raw = f.read()
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise _err(path, f'not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}'
                   ) from None
    except UnicodeDecodeError as e:
        raise _err(path, f'not valid JSON text: {e}') from None
    return parse_coco(data, source=path, skip_unknown_images=skip_unknown_images)


def _column(items: list, key: str, where: str, source: str) -> list:
    try:
        return [it[key] for it in items]
    except KeyError:
        i = next(i for i, it in enumerate(items) if key not in it)
        ident = items[i].get('id', '?')
        raise _err(source, f'{where}[{i}] (id {ident}) has no "{key}"') from None
    except TypeError:
        i = next(i for i, it in enumerate(items) if not isinstance(it, dict))
        raise _err(source, f'{where}[{i}]: expected an object, got {items[i]!r}') from None


def _numeric(values: list, shape: tuple, what: str, source: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.shape[1:] != shape[1:] or arr.ndim != len(shape):
        for i, v in enumerate(values):
            try:
                ok = np.asarray(v, dtype=np.float64).shape == shape[1:]
            except (TypeError, ValueError):
                ok = False
            if not ok:
                expected = '4 numbers' if shape[1:] else 'a number'
                raise _err(source, f'{what}[{i}]: expected {expected}, got {v!r}')
        raise _err(source, f'{what}: expected numbers')  # pragma: no cover
    return arr


def parse_coco(data: Any, source: str = 'annotations',
               skip_unknown_images: bool = False) -> BoxSet:
    """:func:`load_coco_boxes` on an already decoded COCO dict (same checks)."""
    if not isinstance(data, dict):
        raise _err(source, f'expected a JSON object with "images" and "annotations", got '
                           f'{type(data).__name__}')
    for key in ('images', 'annotations'):
        if key not in data:
            raise _err(source, f'missing key "{key}" (keys present: {sorted(data)[:8]})')
        if not isinstance(data[key], list):
            raise _err(source, f'"{key}": expected a list, got {type(data[key]).__name__}')
    images, anns = data['images'], data['annotations']
    if not images:
        raise _err(source, '"images" is empty: nothing to advise on')
    # Images: ids, sizes.
    img_ids = np.asarray(_column(images, 'id', 'images', source), dtype=object)
    widths = _numeric(_column(images, 'width', 'images', source), (0,), 'images.width', source)
    heights = _numeric(_column(images, 'height', 'images', source), (0,), 'images.height', source)
    ok_img = np.isfinite(widths) & np.isfinite(heights) & (widths > 0) & (heights > 0)
    try:
        id_arr = np.asarray(img_ids.tolist(), dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise _err(source, 'images.id: expected integers') from None
    if len(np.unique(id_arr)) != len(id_arr):
        u, c = np.unique(id_arr, return_counts=True)
        raise _err(source, f'images: duplicate image ids, e.g. {u[c > 1][:5].tolist()}')

    # Annotations: image, bbox, area, iscrowd, ignore, category.
    n_ann = len(anns)
    audit = AnnotationAudit(source, total_boxes=n_ann, total_images=len(images))
    audit.add('image_size', img_ids[~ok_img][:audit.max_ids], count=int((~ok_img).sum()))
    ann_img = _column(anns, 'image_id', 'annotations', source)
    bbox = _numeric(_column(anns, 'bbox', 'annotations', source), (0, 4), 'annotations.bbox',
                    source) if n_ann else np.zeros((0, 4))
    try:
        ann_img = np.asarray(ann_img, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise _err(source, 'annotations.image_id: expected integers') from None
    ann_ids = [a.get('id', i) for i, a in enumerate(anns)]
    area = _numeric([a.get('area', 1.0) for a in anns], (0,), 'annotations.area', source)

    order = np.argsort(id_arr, kind='stable')
    pos = np.searchsorted(id_arr[order], ann_img)
    pos = np.minimum(pos, len(id_arr) - 1)
    known = id_arr[order][pos] == ann_img
    if not known.all() and not skip_unknown_images:
        bad = np.unique(ann_img[~known])
        raise _err(source, f'{int((~known).sum())} annotations refer to image ids that are '
                           f'not in "images" (e.g. {bad[:5].tolist()}); fix the file or '
                           'pass --skip-unknown-images')
    img_index = np.where(known, order[pos], -1)
    wh = np.stack([widths, heights], axis=1)[np.maximum(img_index, 0)]
    cats_known = None
    if 'categories' in data and isinstance(data['categories'], list) and n_ann:
        cat_ids = {c.get('id') for c in data['categories'] if isinstance(c, dict)}
        cats_known = np.asarray([a.get('category_id') in cat_ids for a in anns], dtype=bool)
    # The shared policy (mmsniper.annotations): what MMDetection's CocoDataset drops, and
    # crowd boxes, which never drive a chip.
    codes = classify_boxes(
        bbox, wh, image_known=known, area=area, category_known=cats_known,
        ignore=np.asarray([bool(a.get('ignore', False)) for a in anns], dtype=bool),
        crowd=np.asarray([bool(a.get('iscrowd', 0)) for a in anns], dtype=bool))
    audit.add_codes(codes, ann_ids, ann_img)
    keep = codes == 0
    x, y, w, h = (bbox[:, k] for k in range(4))

    # Keep the usable images (file order) and their boxes grouped by image.
    new_index = np.cumsum(ok_img) - 1
    sel = np.flatnonzero(keep)
    box_img = new_index[img_index[sel]]
    grp = np.argsort(box_img, kind='stable')
    sel, box_img = sel[grp], box_img[grp]
    boxes = np.stack([x[sel], y[sel], x[sel] + w[sel], y[sel] + h[sel]], axis=1)
    n_img = int(ok_img.sum())
    if n_img == 0:
        raise _err(source, 'no image has a positive width and height')
    counts = np.bincount(box_img, minlength=n_img)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    if len(boxes) == 0:
        why = ('"annotations" is empty' if n_ann == 0 else
               f'none of the {n_ann} annotations is usable ({audit.report()})')
        raise _err(source, f'{why}: no boxes to base scales on')
    return BoxSet(boxes=boxes.reshape(-1, 4), offsets=offsets, image_ids=id_arr[ok_img],
                  image_sizes=np.stack([widths[ok_img], heights[ok_img]], axis=1),
                  source=source, audit=audit)
