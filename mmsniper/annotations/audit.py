"""One policy for bad annotations: the kinds, how they are counted, the report, strict mode.

Training (:class:`~mmsniper.datasets.SniperDataset`), the chip tools, the data check
(``tools/analysis_tools/check_dataset.py``) and the scale advisor all classify annotations
with :func:`classify_boxes` and count them in an :class:`AnnotationAudit`, so a box left out
is left out, counted and named the same way everywhere. Each run reports every kind ONCE,
with the first few ids, in one line such as::

    annotations: 4 of 120 boxes of train.json not used: 2 non-finite (ann ids 17 in img 3,
    23 in img 8), 2 unknown category (ann ids 5 in img 1, 9 in img 2)

and strict mode (``SniperDataset(strict_annotations=True)``, the tools' ``--strict``) turns
a report with data errors into an :class:`AnnotationError`.

The kinds follow what MMDetection's ``CocoDataset.parse_data_info`` (mmdet 3.3) does with a
COCO annotation ``bbox = [x, y, w, h]`` (ORIGINAL pixels) of an image ``W x H``: it skips
``ignore`` annotations, boxes with no overlap with ``[0, W] x [0, H]``, ``area <= 0`` or
``w < 1`` or ``h < 1``, and categories not in ``metainfo['classes']``; crowd boxes are kept
as ignored boxes (never a training target, never a chip's reason). This module names the
reason: a box that fits several kinds counts under the first one of :data:`BOX_KINDS`
(e.g. a box of zero width is "zero, negative or sub-pixel size", not "outside").

Plain Python and NumPy: no mmdet, mmengine or torch (the advisor uses it without the stack).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

#: ids shown per kind in a report.
MAX_IDS = 5


@dataclass(frozen=True)
class Kind:
    """A reason why an annotation (or an image) is not used as it is.

    Attributes:
        key (str): the name in code and JSON (``'non_finite'``).
        label (str): the words in a report (``'non-finite'``).
        unit (str): ``'ann'`` (counted in annotations, ids are annotation ids) or ``'img'``
            (counted in images, ids are image ids).
        error (bool): a data error: strict mode raises on it. Crowd boxes, ``ignore`` flags
            and images a dataset's ``filter_cfg`` leaves out are deliberate, never errors.
        used (bool): the box still takes part in training (crowd: an ignore region).
    """

    key: str
    label: str
    unit: str
    error: bool
    used: bool = False


#: Box kinds in order of precedence (see the module docstring); ``'ok'`` is code 0.
BOX_KINDS = (
    Kind('unknown_image', 'unknown image id', 'ann', True),
    Kind('bad_image', 'on an image of unusable width/height', 'ann', True),
    Kind('non_finite', 'non-finite', 'ann', True),
    Kind('degenerate', 'zero, negative or sub-pixel size', 'ann', True),
    Kind('outside', 'outside the image', 'ann', True),
    Kind('unknown_category', 'unknown category', 'ann', True),
    Kind('ignore', 'marked "ignore"', 'ann', False),
    Kind('crowd', 'crowd, kept as ignore regions', 'ann', False, used=True),
)
#: Kinds only an adapter can tell (what a dataset did), and image kinds.
OTHER_KINDS = (
    Kind('image_left_out', 'on images the dataset left out (its filter_cfg)', 'ann', False),
    Kind('dropped_unexplained', 'dropped by the dataset for a reason not checked here',
         'ann', False),
    Kind('duplicate_ann_id', 'duplicate annotation id', 'ann', True, used=True),
    Kind('image_size', 'zero, negative, non-finite or missing width/height', 'img', True),
    Kind('duplicate_image_id', 'duplicate image id', 'img', True),
    Kind('unreadable', 'missing or unreadable image file', 'img', True),
    Kind('size_mismatch', 'decoded size differs from the annotated width/height', 'img', True),
    # Masks (only where annotations have ``segmentation``): LoadAnnotations drops polygons
    # of an odd or < 6 coordinate count and loads an instance left without any as ignored.
    # Counted, not a data error (strict goes on): mmdet drops them by its own rule, and a
    # box-only run (COCO's instances files have a few) never reads them.
    Kind('bad_mask', 'malformed mask polygons (dropped; a box left without any is loaded as '
         'ignored)', 'ann', False, used=True),
    # ... but an RLE whose size is not the image's makes BitmapMasks fail in the worker:
    # a run that loads masks stops at build (mmsniper.datasets.annotation_report).
    Kind('bad_mask_rle', 'RLE mask of a size other than the image\'s', 'ann', True,
         used=True),
)
KINDS = {k.key: k for k in BOX_KINDS + OTHER_KINDS}
#: ``codes`` of :func:`classify_boxes`: 0 is ``'ok'``, ``i`` is ``BOX_KINDS[i - 1]``.
CODES = ('ok',) + tuple(k.key for k in BOX_KINDS)
CODE = {key: i for i, key in enumerate(CODES)}


class AnnotationError(ValueError):
    """Strict mode found annotations with data errors (the message is the report)."""


def format_ids(ids: Sequence[Any], count: int, unit: str = 'ann',
               images: Sequence[Any] | None = None) -> str:
    """``'ann ids 17 in img 3, 23 in img 4'`` / ``'img id 4'`` / ``'ann ids 1, 2, 3, ...'``.

    ``unit``: ``'ann'``, ``'img'`` or any word (``''``: the ids speak for themselves);
    ``images``: the image id of each id, shown next to it.
    """
    word = {'ann': 'ann id', 'img': 'img id'}.get(unit, unit)
    if images is not None and len(images) == len(ids):
        shown = ', '.join(f'{i} in img {m}' for i, m in zip(ids, images))
    else:
        shown = ', '.join(str(i) for i in ids)
    more = ', ...' if count > len(ids) else ''
    if not shown:
        return ''
    return f'{word}{"s" if count > 1 else ""} {shown}{more}' if word else shown + more


class AnnotationAudit:
    """Annotations (and images) of one run that are not used, by kind, with the first ids.

    Args:
        source (str): what was audited (an annotation file, a dataset), for the report.
        total_boxes (int): annotations examined.
        total_images (int): images examined.
        max_ids (int): ids kept per kind. Default :data:`MAX_IDS`.
        box_id_word (str): how box ids are introduced in the report: ``'ann id'``
            (COCO annotation ids) or ``''`` for ids that name themselves
            (``'img 7 box 2'``, datasets without annotation ids).
    """

    def __init__(self, source: str = 'annotations', total_boxes: int = 0,
                 total_images: int = 0, max_ids: int = MAX_IDS,
                 box_id_word: str = 'ann id') -> None:
        self.source = source
        self.total_boxes = int(total_boxes)
        self.total_images = int(total_images)
        self.max_ids = int(max_ids)
        self.box_id_word = box_id_word
        self.counts: dict[str, int] = {}
        self.ids: dict[str, list] = {}
        self.images: dict[str, list] = {}   # image id of each kept box id (when known)
        self.notes: list[str] = []

    # -- counting ------------------------------------------------------------------------
    def add(self, kind: str, ids: Iterable[Any] = (), count: int | None = None,
            images: Sequence[Any] | None = None) -> None:
        """Count ``count`` (default: ``len(ids)``) items of ``kind``; keep the first ids
        (and, for boxes, the ``images`` they belong to, one per id)."""
        if kind not in KINDS:
            raise KeyError(f'unknown annotation kind {kind!r}; known: {sorted(KINDS)}')
        ids = list(ids) if count is None else list(ids)[:self.max_ids]
        n = len(ids) if count is None else int(count)
        if n <= 0:
            return
        self.counts[kind] = self.counts.get(kind, 0) + n
        have = self.ids.setdefault(kind, [])
        room = max(0, self.max_ids - len(have))
        have += [_plain(i) for i in ids[:room]]
        if images is not None:
            self.images.setdefault(kind, []).extend(_plain(m) for m in list(images)[:room])

    def add_codes(self, codes: np.ndarray, ids: Sequence[Any],
                  images: Sequence[Any] | None = None) -> None:
        """Count every non-``ok`` code of :func:`classify_boxes` with its annotation id
        (and image id, when ``images`` gives one per annotation)."""
        codes = np.asarray(codes)
        for c in np.unique(codes):
            if c <= 0:
                continue
            where = np.flatnonzero(codes == c)[:self.max_ids]
            self.add(CODES[int(c)], [ids[i] for i in where],
                     count=int((codes == c).sum()),
                     images=None if images is None else [images[i] for i in where])

    def note(self, text: str) -> None:
        """A sentence appended to the report (e.g. a count that does not add up)."""
        self.notes.append(text)

    # -- reading -------------------------------------------------------------------------
    def count(self, kind: str) -> int:
        return self.counts.get(kind, 0)

    def kinds(self) -> list[Kind]:
        """The kinds counted, in the policy's order."""
        return [KINDS[k] for k in KINDS if self.counts.get(k)]

    @property
    def errors(self) -> dict[str, int]:
        """``{kind: count}`` of the data errors (what strict mode raises on)."""
        return {k.key: self.counts[k.key] for k in self.kinds() if k.error}

    @property
    def boxes_not_used(self) -> int:
        return sum(self.counts[k.key] for k in self.kinds() if k.unit == 'ann' and not k.used)

    @property
    def clean(self) -> bool:
        """Nothing counted, no notes."""
        return not self.counts and not self.notes

    def _items(self, kinds: Iterable[Kind]) -> str:
        out = []
        for k in kinds:
            n = self.counts[k.key]
            unit = self.box_id_word if k.unit == 'ann' else k.unit
            ids = format_ids(self.ids.get(k.key, []), n, unit, self.images.get(k.key))
            out.append(f'{n} {k.label}' + (f' ({ids})' if ids else ''))
        return ', '.join(out)

    def report(self) -> str:
        """One line: every kind once, with its count and first ids (see the module doc)."""
        kinds = self.kinds()
        dropped = [k for k in kinds if k.unit == 'ann' and not k.used]
        kept = [k for k in kinds if k.unit == 'ann' and k.used]
        images = [k for k in kinds if k.unit == 'img']
        where = '' if self.source in ('', 'annotations') else f' of {self.source}'
        if dropped:
            parts = [f'{self.boxes_not_used} of {self.total_boxes} boxes{where} not used: '
                     + self._items(dropped)]
        else:
            parts = [f'all {self.total_boxes} boxes{where} used']
        if kept:
            parts.append('also: ' + self._items(kept))
        if images:
            parts.append(f'images ({self.total_images}): ' + self._items(images))
        return 'annotations: ' + '; '.join(parts + self.notes)

    def check(self, strict: bool, what_to_do: str = '') -> None:
        """Raise :class:`AnnotationError` with the report when ``strict`` and errors exist."""
        if strict and self.errors:
            msg = self.report()
            raise AnnotationError(msg + (f'\n{what_to_do}' if what_to_do else ''))

    def as_dict(self) -> dict:
        """JSON-ready: source, totals, counts and first ids per kind, notes."""
        return dict(source=self.source, total_boxes=self.total_boxes,
                    total_images=self.total_images, counts=dict(self.counts),
                    ids={k: list(v) for k, v in self.ids.items()}, notes=list(self.notes),
                    errors=self.errors)


def _plain(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x


# --------------------------------------------------------------------------------------
# Classification
# --------------------------------------------------------------------------------------
def classify_boxes(bbox: np.ndarray, image_wh: np.ndarray, *,
                   image_known: np.ndarray | None = None,
                   area: np.ndarray | None = None,
                   category_known: np.ndarray | None = None,
                   ignore: np.ndarray | None = None,
                   crowd: np.ndarray | None = None,
                   min_side: float = 1.0) -> np.ndarray:
    """The policy's verdict on every box: ``ndarray[N] int8`` codes into :data:`CODES`.

    Args:
        bbox (ndarray[N, 4]): COCO ``(x, y, w, h)``, ORIGINAL pixels; NaN for a malformed
            entry (it counts as non-finite).
        image_wh (ndarray[N, 2]): ``(W, H)`` of each box's image, ORIGINAL pixels.
        image_known (ndarray[N] bool, optional): the box's ``image_id`` names an image.
        area (ndarray[N], optional): the annotation's ``area`` (``<= 0``: degenerate).
        category_known (ndarray[N] bool, optional): its category is one the run trains.
        ignore (ndarray[N] bool, optional): the annotation's ``ignore`` flag.
        crowd (ndarray[N] bool, optional): ``iscrowd``.
        min_side (float): a side below this is degenerate (always: ``<= 0``). Default 1,
            as ``CocoDataset``; the dataset wrapper passes 0 for boxes a parser already
            accepted (their sides, recomputed from ``x2 - x1``, may round below 1).

    Returns:
        ndarray[N] int8: 0 (``'ok'``: a training box) or the first kind that applies.
    """
    b = np.asarray(bbox, dtype=np.float64).reshape(-1, 4)
    n = len(b)
    wh = np.asarray(image_wh, dtype=np.float64).reshape(n, 2)
    codes = np.zeros(n, dtype=np.int8)

    def mark(key: str, mask: np.ndarray) -> None:
        codes[(codes == 0) & mask] = CODE[key]

    if image_known is not None:
        mark('unknown_image', ~np.asarray(image_known, bool))
    W, H = wh[:, 0], wh[:, 1]
    with np.errstate(invalid='ignore'):
        mark('bad_image', ~(np.isfinite(W) & np.isfinite(H) & (W > 0) & (H > 0)))
        mark('non_finite', ~np.isfinite(b).all(axis=1))
        x, y, w, h = (np.nan_to_num(b[:, k]) for k in range(4))
        small = (w <= 0) | (h <= 0) | (w < min_side) | (h < min_side)
        if area is not None:
            small |= np.asarray(area, dtype=np.float64) <= 0
        mark('degenerate', small)
        # MMDetection's test: no overlap (zero intersection area) with [0, W] x [0, H].
        iw = np.maximum(0, np.minimum(x + w, W) - np.maximum(x, 0))
        ih = np.maximum(0, np.minimum(y + h, H) - np.maximum(y, 0))
    mark('outside', iw * ih == 0)
    if category_known is not None:
        mark('unknown_category', ~np.asarray(category_known, bool))
    if ignore is not None:
        mark('ignore', np.asarray(ignore, bool))
    if crowd is not None:
        mark('crowd', np.asarray(crowd, bool))
    return codes


def used(codes: np.ndarray) -> np.ndarray:
    """``ndarray[N] bool``: the boxes a run trains with (``ok``) or keeps as ignore (crowd)."""
    codes = np.asarray(codes)
    return (codes == 0) | (codes == CODE['crowd'])


def _numbers(values: list, width: int) -> np.ndarray:
    """``ndarray[N, width]`` (``width`` 0: ``ndarray[N]``) of float64; NaN where malformed."""
    shape = (len(values), width) if width else (len(values),)
    try:
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape == shape:
            return arr
    except (TypeError, ValueError):
        pass
    out = np.full(shape, np.nan)
    for i, v in enumerate(values):
        try:
            a = np.asarray(v, dtype=np.float64)
            if a.shape == shape[1:]:
                out[i] = a
        except (TypeError, ValueError):
            pass
    return out


@dataclass
class CocoAudit:
    """A COCO-format dict classified by the policy (annotations and images in file order).

    Attributes:
        audit (AnnotationAudit): the counts.
        image_ids (list): ``images[i]['id']``.
        image_wh (ndarray[I, 2] float64): annotated ``(width, height)``; NaN if missing.
        ann_ids (list): ``annotations[j]['id']`` (the index ``j`` when missing).
        ann_image_ids (list): ``annotations[j]['image_id']``.
        codes (ndarray[N] int8): :func:`classify_boxes` of each annotation.
        file_problems (list[str]): file-level problems (categories, duplicate ids).
    """

    audit: AnnotationAudit
    image_ids: list
    image_wh: np.ndarray
    ann_ids: list
    ann_image_ids: list
    codes: np.ndarray
    file_problems: list


def audit_coco(data: dict, source: str = 'annotations',
               classes: Sequence[str] | None = None,
               used_image_ids: Iterable[Any] | None = None,
               max_ids: int = MAX_IDS) -> CocoAudit:
    """Classify every annotation and image of a decoded COCO-format file.

    Args:
        data (dict): ``images`` (``id``, ``width``, ``height``), ``annotations`` (``id``,
            ``image_id``, ``bbox`` ``[x, y, w, h]`` ORIGINAL pixels, ``category_id``,
            optional ``area``, ``iscrowd``, ``ignore``), optional ``categories``.
        source (str): the file, for the report.
        classes (Sequence[str], optional): the class names a run trains (MMDetection's
            ``metainfo['classes']``): only categories with these names are known, as in
            ``CocoDataset``. Default: every category of the file.
        used_image_ids (Iterable, optional): the images a run uses (a dataset's
            ``filter_cfg`` may leave some out): otherwise usable boxes of the other images
            count as ``'image_left_out'``. Default: every image.
        max_ids (int): ids kept per kind.

    Returns:
        CocoAudit: the counts (``total_boxes``: every annotation of the file), arrays for
        adapters that compare them with what a dataset kept, file-level problems.

    Raises:
        ValueError: ``data`` is not a dict with ``images`` and ``annotations`` lists.
    """
    if not isinstance(data, dict):
        raise ValueError(f'{source}: expected a JSON object with "images" and "annotations", '
                         f'got {type(data).__name__}')
    for key in ('images', 'annotations'):
        if not isinstance(data.get(key), list):
            raise ValueError(f'{source}: "{key}" missing or not a list')
    images = [im if isinstance(im, dict) else {} for im in data['images']]
    anns = [a if isinstance(a, dict) else {} for a in data['annotations']]
    audit = AnnotationAudit(source, total_boxes=len(anns), total_images=len(images),
                            max_ids=max_ids)
    problems: list[str] = []

    # images: ids, sizes
    image_ids = [im.get('id') for im in images]
    image_wh = np.stack([_numbers([im.get('width') for im in images], 0),
                         _numbers([im.get('height') for im in images], 0)], axis=1
                        ).reshape(-1, 2)
    with np.errstate(invalid='ignore'):
        bad = ~(np.isfinite(image_wh).all(axis=1) & (image_wh > 0).all(axis=1))
    audit.add('image_size', [image_ids[i] for i in np.flatnonzero(bad)[:max_ids]],
              count=int(bad.sum()))
    index: dict = {}
    dup_img: list = []
    for i, iid in enumerate(image_ids):
        if iid in index:
            dup_img.append(iid)
        else:
            index[iid] = i
    audit.add('duplicate_image_id', dup_img)

    # categories
    cats = data.get('categories')
    if not isinstance(cats, list) or not cats:
        problems.append('"categories" is missing or empty (MMDetection\'s CocoDataset needs it)')
        cats = []
    cat_ids = [c.get('id') for c in cats if isinstance(c, dict)]
    if len(set(cat_ids)) != len(cat_ids):
        problems.append('duplicate category ids in "categories"')
    if classes is not None:
        names = {c.get('name'): c.get('id') for c in cats if isinstance(c, dict)}
        missing = [c for c in classes if c not in names]
        if missing:
            problems.append(f'classes not in "categories" (their boxes are never loaded): '
                            f'{missing[:10]}')
        wanted = set(classes)
        known_cats = {c.get('id') for c in cats if isinstance(c, dict)
                      and c.get('name') in wanted}
    else:
        known_cats = set(cat_ids)

    # annotations
    ann_ids = [a.get('id', j) for j, a in enumerate(anns)]
    seen: set = set()
    dup_ann = []
    for aid in ann_ids:
        if aid in seen:
            dup_ann.append(aid)
        seen.add(aid)
    ann_image_ids = [a.get('image_id') for a in anns]
    img_row = np.asarray([index.get(i, -1) for i in ann_image_ids], dtype=np.int64)
    known = img_row >= 0
    wh = np.where(known[:, None], image_wh[np.maximum(img_row, 0)] if len(image_wh) else 0,
                  np.nan)
    codes = classify_boxes(
        _numbers([a.get('bbox') for a in anns], 4), wh, image_known=known,
        area=_numbers([a.get('area', 1.0) for a in anns], 0),
        category_known=np.asarray([a.get('category_id') in known_cats for a in anns], bool),
        ignore=np.asarray([bool(a.get('ignore', False)) for a in anns], bool),
        crowd=np.asarray([bool(a.get('iscrowd', False)) for a in anns], bool))
    if used_image_ids is not None:
        in_run = set(used_image_ids)
        left_out = used(codes) & np.asarray([i not in in_run for i in ann_image_ids], bool)
        where = np.flatnonzero(left_out)
        audit.add('image_left_out', [ann_ids[i] for i in where[:max_ids]], count=len(where),
                  images=[ann_image_ids[i] for i in where[:max_ids]])
    else:
        left_out = np.zeros(len(anns), bool)
    audit.add_codes(np.where(left_out, 0, codes), ann_ids, ann_image_ids)
    audit.add('duplicate_ann_id', dup_ann)
    # masks, where the file has them
    bad: dict[str, list] = {'bad_mask': [], 'bad_mask_rle': []}
    for j, a in enumerate(anns):
        if 'segmentation' not in a or not known[j]:
            continue
        problem = segmentation_problem(a['segmentation'], *wh[j])
        if problem:
            bad['bad_mask_rle' if problem.startswith('RLE') else 'bad_mask'].append(j)
    for kind, rows in bad.items():
        audit.add(kind, [ann_ids[j] for j in rows[:max_ids]], count=len(rows),
                  images=[ann_image_ids[j] for j in rows[:max_ids]])
    return CocoAudit(audit, image_ids, image_wh, ann_ids, ann_image_ids, codes, problems)


def segmentation_problem(segmentation: Any, width: float, height: float) -> str | None:
    """What is wrong with a COCO ``segmentation`` (None: usable or absent).

    Polygons: a non-empty list of flat coordinate lists, each of an even length ``>= 6``
    with finite numbers (what MMDetection's ``LoadAnnotations`` keeps). RLE: a dict whose
    ``size`` is ``[height, width]`` of the image and whose ``counts`` is a list or string.

    Args:
        segmentation: the annotation's ``segmentation`` value.
        width, height (float): the image's annotated size (ORIGINAL pixels).

    Returns:
        str | None: the problem in a few words, e.g. ``'polygon 0 has 7 coordinates
        (odd)'``; RLE problems start with ``'RLE'``.
    """
    if segmentation is None:
        return None
    if isinstance(segmentation, dict):
        size, counts = segmentation.get('size'), segmentation.get('counts')
        if not isinstance(counts, (list, str, bytes)):
            return 'RLE without a list or string "counts"'
        try:
            h, w = (int(v) for v in size)
        except (TypeError, ValueError):
            return f'RLE "size" {size!r} is not [height, width]'
        if not (math.isfinite(float(width)) and math.isfinite(float(height))):
            return None  # the image's size is its own problem (image_size)
        if (h, w) != (int(height), int(width)):
            return f'RLE of size {h}x{w} (h x w) on an image of {int(height)}x{int(width)}'
        return None
    if not isinstance(segmentation, list):
        return f'segmentation is a {type(segmentation).__name__}, not polygons or RLE'
    if not segmentation:
        return 'empty polygon list'
    for i, poly in enumerate(segmentation):
        try:
            arr = np.asarray(poly, dtype=np.float64)
        except (TypeError, ValueError):
            return f'polygon {i} is not a list of numbers'
        if arr.size == 0:
            return f'polygon {i} is empty'
        if arr.ndim != 1:
            return f'polygon {i} is not a flat list of numbers'
        if arr.size % 2:
            return f'polygon {i} has {arr.size} coordinates (odd)'
        if arr.size < 6:
            return f'polygon {i} has {arr.size // 2} points (< 3)'
        if not np.isfinite(arr).all():
            return f'polygon {i} has non-finite coordinates'
    return None


# --------------------------------------------------------------------------------------
# The decoded image against its annotation
# --------------------------------------------------------------------------------------
def size_mismatch(decoded_wh: tuple[int, int], annotated_wh: tuple[Any, Any],
                  path: Any = None, img_id: Any = None, advise: bool = True) -> str | None:
    """``None`` when the decoded image has the annotated size, else the error text.

    Args:
        decoded_wh (tuple): ``(width, height)`` of the image as the pipeline decodes it
            (``LoadImageFromFile``: EXIF orientation applied).
        annotated_wh (tuple): ``(width, height)`` from the annotation file.
        path, img_id: named in the text.
        advise (bool): end the text with what to do (the check tool leaves it out).
    """
    try:
        aw, ah = float(annotated_wh[0]), float(annotated_wh[1])
    except (TypeError, ValueError):
        return None  # no annotated size: nothing to compare (SniperDataset requires one)
    dw, dh = int(decoded_wh[0]), int(decoded_wh[1])
    if math.isclose(aw, dw) and math.isclose(ah, dh):
        return None
    hint = ('width and height are swapped: an EXIF-rotated photo? The pipeline decodes with '
            'the EXIF orientation applied, so annotate the rotated size (and boxes)'
            if math.isclose(aw, dh) and math.isclose(ah, dw) else
            'the boxes are in the annotated frame, so chips and boxes would not match')
    text = (f'image {path} (img_id {img_id}): decoded size {dw}x{dh} (width x height, EXIF '
            f'orientation applied) but the annotation says {aw:g}x{ah:g}; {hint}')
    if advise:
        text += ('. Fix its width/height (and boxes) in the annotation file; '
                 'tools/analysis_tools/check_dataset.py lists every such image')
    return text
