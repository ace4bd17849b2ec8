"""Proposal files: per-image boxes and scores, for negative chip mining.

Format (a NumPy ``.npz`` archive, compressed, no pickled objects; loads in seconds for
COCO's 118k images and stays in memory as a :class:`~mmsniper.chips.BoxTable`)::

    format       int64[1]      = 1
    image_ids    int64[M]      image id of each image (the dataset's ``img_id``, COCO ids)
    offsets      int64[M + 1]  proposals of image i are rows offsets[i]:offsets[i + 1]
    boxes        float32[K, 4] (x1, y1, x2, y2) in ORIGINAL image pixels
    scores       float32[K]    objectness, any monotone scale
    levels       int8[K]       pyramid level that produced the row (-1: unknown)

Any other detector, or an external file, can feed negative chip mining by writing these
arrays with :func:`save_proposals`.
"""
from __future__ import annotations

import os.path as osp
import zipfile
from typing import Optional, Sequence

import numpy as np

from ..chips import BoxTable
from ..utils.fileio import atomic_path

FORMAT_VERSION = 1
_KEYS = ('format', 'image_ids', 'offsets', 'boxes', 'scores', 'levels')
MAKE_CMD = ('python tools/extract_proposals.py RPN_CONFIG RPN_CHECKPOINT --out FILE '
            '(the RPN from configs/sniper_rpn_r101.py; see README "Negative chips")')


def save_proposals(path: str, image_ids: Sequence[int], boxes: Sequence[np.ndarray],
                   scores: Sequence[np.ndarray], levels: Optional[Sequence[np.ndarray]] = None
                   ) -> None:
    """Write proposals atomically (a crash never leaves a half-written ``path``).

    Args:
        path (str): output ``.npz`` file.
        image_ids (Sequence[int]): one id per image.
        boxes (Sequence[ndarray[P_i, 4]]): per image, ORIGINAL pixels ``(x1, y1, x2, y2)``.
        scores (Sequence[ndarray[P_i]]): per image.
        levels (Sequence[ndarray[P_i]], optional): per image, the level of each row.
    """
    if not (len(image_ids) == len(boxes) == len(scores)):
        raise ValueError(f'save_proposals: expected one boxes and scores array per image id, '
                         f'got {len(image_ids)} ids, {len(boxes)} boxes, {len(scores)} scores')
    counts = np.array([len(b) for b in boxes], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    cat_boxes = (np.concatenate([np.asarray(b, np.float32).reshape(-1, 4) for b in boxes])
                 if len(boxes) else np.zeros((0, 4), np.float32))
    cat_scores = (np.concatenate([np.asarray(s, np.float32).reshape(-1) for s in scores])
                  if len(scores) else np.zeros(0, np.float32))
    if levels is None:
        cat_levels = np.full(len(cat_scores), -1, np.int8)
    else:
        cat_levels = (np.concatenate([np.asarray(v, np.int8).reshape(-1) for v in levels])
                      if len(levels) else np.zeros(0, np.int8))
    if not (len(cat_boxes) == len(cat_scores) == len(cat_levels)):
        raise ValueError('save_proposals: boxes, scores and levels differ in length')
    # an open file: numpy adds no .npz to the name, the file is exactly ``path``
    with atomic_path(path) as tmp, open(tmp, 'wb') as f:
        np.savez_compressed(f, format=np.array([FORMAT_VERSION], np.int64),
                            image_ids=np.asarray(image_ids, np.int64), offsets=offsets,
                            boxes=cat_boxes, scores=cat_scores, levels=cat_levels)


def load_proposals(path: str) -> BoxTable:
    """Load a proposal file as a :class:`~mmsniper.chips.BoxTable` (``image_ids``,
    ``scores``, ``levels`` set); clear errors for a missing, corrupt or inconsistent one."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'proposal file {path} does not exist. Make it with: {MAKE_CMD}')
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in _KEYS if k not in z.files]
            if missing:
                raise ValueError(f'missing arrays {missing}')
            arrs = {k: z[k] for k in _KEYS}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as e:
        raise ValueError(f'proposal file {path} is corrupt or truncated ({e}); make it again '
                         f'with: {MAKE_CMD}') from None
    ver = int(arrs['format'][0]) if arrs['format'].size else -1
    if ver != FORMAT_VERSION:
        raise ValueError(f'proposal file {path}: format {ver}, expected {FORMAT_VERSION}')
    ids, boxes = arrs['image_ids'], arrs['boxes']
    try:  # the table checks its own shapes (offsets, boxes, one score and level per box)
        table = BoxTable(boxes.astype(np.float32, copy=False),
                         arrs['offsets'].astype(np.int64, copy=False),
                         image_ids=ids.astype(np.int64, copy=False),
                         scores=arrs['scores'].astype(np.float32, copy=False),
                         levels=arrs['levels'], source=path)
    except ValueError as e:
        raise ValueError(f'proposal file {path} is inconsistent: {e}') from None
    if len(np.unique(ids)) != len(ids):
        raise ValueError(f'proposal file {path} is inconsistent: image ids repeat')
    if len(boxes) and not np.isfinite(boxes).all():
        raise ValueError(f'proposal file {path}: non-finite box coordinates')
    return table
