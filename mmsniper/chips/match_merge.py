"""Greedy NMS and non-maximum merging (NMM) by IoU or IoS over sparse box pairs (NumPy).

The rules of SAHI's postprocess (``sahi.postprocess.combine``: ``NMSPostprocess``,
``GreedyNMMPostprocess``, ``NMMPostprocess``), re-derived so that each step is a handful
of array operations instead of a Python loop over boxes:

- Order: by score, descending; ties by ``x1``, ``y1``, ``x2``, ``y2`` ascending, then by
  index. Boxes are grouped by label unless class-agnostic; groups never interact.
- Match: ``metric(a, b) >= threshold`` with ``metric`` IoU (``inter / union``) or IoS
  (``inter / min(area)``), computed in float32 as SAHI does on its ``(N, 6)`` float32
  array (areas ``(x2 - x1) * (y2 - y1)``, no ``+ 1``; a zero denominator gives 0).
- NMS keeps a box unless an earlier kept box matches it.
- Greedy NMM keeps the same boxes; each removed box joins the FIRST kept box (in the
  order) that matches it, and the members of a kept box are visited in the order.
- NMM (transitive): box ``j`` is claimed by the first box ``i`` before it in the order
  that matches it and dominates it (a higher score, or the same score and the same
  coordinates) and joins ``i``'s keeper; a box nobody claims is a keeper. Members are
  visited in the order their claimers were, then by index.
- Merging a group: starting from the keeper, each member in turn is merged if it still
  matches the growing box (float64): the box becomes the union (enclosing box), the
  score the maximum, the label the member's when its score is at least the box's.

Only pairs of boxes that intersect can match (``threshold > 0``); they are found with a
uniform grid of cells, each pair once (in the cell holding the top-left corner of its
intersection). The greedy keep set is computed in rounds: a box whose earlier matches
are all removed is kept, a box matched by a kept box is removed; each round settles at
least the first undecided box, and in practice a few rounds settle all.

All boxes are ``(x1, y1, x2, y2)`` in one frame (any: the caller's).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._checks import as_boxes, as_fraction

METRICS = ('IOU', 'IOS')


class MatchGroups(NamedTuple):
    """Who merges into whom.

    Attributes:
        keep (ndarray[K] int64): the kept boxes (keepers), in the order (score
            descending, SAHI's tie rule).
        members (ndarray[M] int64): the boxes merged into a keeper, grouped by keeper
            (in ``keep`` order) and, within a group, in the order they are visited.
        owner (ndarray[M] int64): position in ``keep`` of each member's keeper.
    """

    keep: np.ndarray
    members: np.ndarray
    owner: np.ndarray


def check_metric(metric: str, name: str = 'match_metric') -> str:
    """``'IOU'`` or ``'IOS'`` (any case); ValueError otherwise."""
    m = str(metric).upper()
    if m not in METRICS:
        raise ValueError(f"{name}: expected 'IOU' or 'IOS', got {metric!r}")
    return m


def check_threshold(threshold: float, name: str = 'match_threshold') -> float:
    """A threshold in ``(0, 1]``: 0 would match disjoint boxes, which no pair search
    finds (SAHI then merges everything into one box)."""
    v = as_fraction(threshold, name)
    if v <= 0:
        raise ValueError(f'{name}: expected a value in (0, 1], got {threshold!r}')
    return v


def score_order(boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Indices by group, then score descending, then ``x1, y1, x2, y2`` ascending."""
    return np.lexsort((boxes[:, 3], boxes[:, 2], boxes[:, 1], boxes[:, 0], -scores, groups))


def pair_metric(boxes: np.ndarray, a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    """IoU or IoS of the box pairs ``(a[k], b[k])`` in the dtype of ``boxes``."""
    return _metric(boxes[a], boxes[b], metric)


def _metric(ba: np.ndarray, bb: np.ndarray, metric: str) -> np.ndarray:
    """IoU or IoS of ``ba[k]`` and ``bb[k]`` (``[P, 4]`` each)."""
    wh = np.minimum(ba[:, 2:], bb[:, 2:])
    wh -= np.maximum(ba[:, :2], bb[:, :2])
    np.maximum(wh, 0, out=wh)
    inter = wh[:, 0] * wh[:, 1]
    area_a = (ba[:, 2] - ba[:, 0]) * (ba[:, 3] - ba[:, 1])
    area_b = (bb[:, 2] - bb[:, 0]) * (bb[:, 3] - bb[:, 1])
    den = area_a + area_b - inter if metric == 'IOU' else np.minimum(area_a, area_b)
    out = np.zeros_like(inter)
    np.divide(inter, den, out=out, where=den > 0)
    return out


def matching_pairs(boxes: np.ndarray, groups: np.ndarray, metric: str,
                   threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Every unordered pair of boxes of one group that match, once.

    Args:
        boxes (ndarray[N, 4] float32): ``(x1, y1, x2, y2)``.
        groups (ndarray[N] int): boxes of different groups never match.
        metric (str): ``'IOU'`` or ``'IOS'``.
        threshold (float): in ``(0, 1]``.

    Returns:
        tuple[ndarray[P] int64, ndarray[P] int64]: the pairs ``(a, b)``, ``a < b``.
    """
    n = len(boxes)
    empty = np.zeros(0, np.int64)
    if n < 2:
        return empty, empty
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]).astype(np.float64)
    # Cells about the size of most boxes: few cells per box, few boxes per cell.
    cell = max(float(np.partition(side, int(0.9 * (n - 1)))[int(0.9 * (n - 1))]), 1.0)
    x0, y0 = float(boxes[:, 0].min()), float(boxes[:, 1].min())
    cx = np.floor((boxes[:, [0, 2]].astype(np.float64) - x0) / cell).astype(np.int64)
    cy = np.floor((boxes[:, [1, 3]].astype(np.float64) - y0) / cell).astype(np.int64)
    ncx, ncy = int(cx.max()) + 1, int(cy.max()) + 1
    nx, ny = cx[:, 1] - cx[:, 0] + 1, cy[:, 1] - cy[:, 0] + 1
    # One entry per (box, covered cell).
    per_box = nx * ny
    box_of = np.repeat(np.arange(n), per_box)
    k = np.arange(len(box_of)) - np.repeat(np.cumsum(per_box) - per_box, per_box)
    ex = cx[box_of, 0] + k % nx[box_of]
    ey = cy[box_of, 0] + k // nx[box_of]
    _, group_id = np.unique(groups, return_inverse=True)
    key = (group_id[box_of].astype(np.int64) * ncy + ey) * ncx + ex
    order = np.argsort(key, kind='stable')
    key, box_of, ex, ey = key[order], box_of[order], ex[order], ey[order]
    # All pairs within a cell: entry p with the entries after it in its cell.
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(key)]
    seg_end = np.repeat(ends, ends - starts)
    partners = seg_end - np.arange(len(key)) - 1
    total = int(partners.sum())
    if total == 0:
        return empty, empty
    p = np.repeat(np.arange(len(key)), partners)
    q = p + 1 + np.arange(total) - np.repeat(np.cumsum(partners) - partners, partners)
    # Per entry (in cell order, so pairs read nearby memory): its box and first cell.
    eb, ecx, ecy = boxes[box_of], cx[box_of, 0], cy[box_of, 0]
    bp, bq = eb[p], eb[q]
    # Each pair once: in the cell of its intersection's top-left corner, which is the
    # first cell of the box with the larger x1 (y1).
    hx = np.where(bp[:, 0] >= bq[:, 0], ecx[p], ecx[q])
    hy = np.where(bp[:, 1] >= bq[:, 1], ecy[p], ecy[q])
    home = (hx == ex[p]) & (hy == ey[p])
    p, q = p[home], q[home]
    hit = _metric(bp[home], bq[home], metric) >= np.float32(threshold)
    a, b = box_of[p[hit]], box_of[q[hit]]
    return np.minimum(a, b), np.maximum(a, b)


def greedy_keep(n: int, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Greedy NMS over matching pairs: which boxes survive.

    Args:
        n (int): number of boxes.
        first, second (ndarray[P] int): the pairs, ``first`` before ``second`` in the
            order.

    Returns:
        ndarray[n] bool: True for the kept boxes.
    """
    undecided, kept, removed = 0, 1, 2
    state = np.zeros(n, np.int8)
    a, b = first, second
    while True:
        und = state == undecided
        if not und.any():
            return state == kept
        blocked = np.zeros(n, bool)
        blocked[b[state[a] != removed]] = True  # an earlier match may still be kept
        state[und & ~blocked] = kept
        state[b[(state[a] == kept) & (state[b] == undecided)]] = removed
        live = (state[a] != removed) & (state[b] == undecided)
        a, b = a[live], b[live]


def _pairs_in_order(boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, metric: str,
                    threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The order, the rank of each box in it, and the matching pairs as
    ``(earlier, later)`` in the order."""
    order = score_order(boxes, scores, groups)
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    a, b = matching_pairs(boxes, groups, metric, threshold)
    swap = rank[a] > rank[b]
    return order, rank, np.where(swap, b, a), np.where(swap, a, b)


def nms_groups(boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, metric: str,
               threshold: float, merge: str = 'greedy') -> MatchGroups:
    """Who survives, and (for merging) who joins whom.

    Args:
        boxes (ndarray[N, 4] float32), scores (ndarray[N] float32): SAHI's float32
            view of the detections.
        groups (ndarray[N] int): label per box (all equal: class-agnostic).
        metric (str), threshold (float): the match rule.
        merge (str): ``'greedy'`` (NMS and greedy NMM: the kept boxes of NMS, members
            joining the first kept box that matches them) or ``'transitive'`` (NMM).

    Returns:
        MatchGroups: keepers in the order, members grouped by keeper.
    """
    n = len(boxes)
    order, rank, a, b = _pairs_in_order(boxes, scores, groups, metric, threshold)
    if merge == 'greedy':
        is_kept = greedy_keep(n, a, b)
        keep = order[is_kept[order]]
        # A removed box joins the earliest kept box matching it; visited in the order.
        by_kept = is_kept[a] & ~is_kept[b]
        a, b = a[by_kept], b[by_kept]
        first = np.lexsort((rank[a], b))
        b_sorted, a_sorted = b[first], a[first]
        lead = np.r_[True, b_sorted[1:] != b_sorted[:-1]]
        members, keeper = b_sorted[lead], a_sorted[lead]
        visit = rank[members]
    elif merge == 'transitive':
        # Claims go from a box to a later one it dominates: a higher score, or the
        # same score and box (different boxes of one score never claim each other).
        dom = (scores[a] > scores[b]) | (boxes[a] == boxes[b]).all(1)
        a, b = a[dom], b[dom]
        first = np.lexsort((rank[a], b))
        b_sorted, a_sorted = b[first], a[first]
        lead = np.r_[True, b_sorted[1:] != b_sorted[:-1]]
        members, claimer = b_sorted[lead], a_sorted[lead]
        parent = np.arange(n)
        parent[members] = claimer
        root = parent.copy()
        while True:  # pointer jumping: the keeper at the top of each claim chain
            nxt = root[root]
            if np.array_equal(nxt, root):
                break
            root = nxt
        keep = order[(root == np.arange(n))[order]]
        keeper = root[members]
        # Visited in the order of their claimers, then by index.
        visit = rank[claimer] * n + members
    else:
        raise ValueError(f"merge: expected 'greedy' or 'transitive', got {merge!r}")
    pos = np.empty(n, np.int64)
    pos[keep] = np.arange(len(keep))
    owner = pos[keeper]
    s = np.lexsort((visit, owner))
    return MatchGroups(keep.astype(np.int64), members[s].astype(np.int64), owner[s])


def merge_groups(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                 groups: MatchGroups, metric: str, threshold: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge each keeper's members into it, one member at a time, while they match.

    Args:
        boxes (ndarray[N, 4] float), scores (ndarray[N]), labels (ndarray[N] int): the
            detections (boxes are merged in float64).
        groups (MatchGroups): from :func:`nms_groups`.
        metric (str), threshold (float): the match rule, re-checked against the growing
            box (SAHI's ``has_match``).

    Returns:
        tuple: ``boxes[K, 4]`` float64 (enclosing boxes), ``scores[K]``, ``labels[K]``
        of the keepers in ``groups.keep`` order.
    """
    keep, members, owner = groups
    out_b = boxes[keep].astype(np.float64)
    out_s = scores[keep].astype(np.float64)
    out_l = labels[keep].copy()
    if len(members) == 0:
        return out_b, out_s, out_l
    src = boxes.astype(np.float64)
    counts = np.bincount(owner, minlength=len(keep))
    start = np.cumsum(counts) - counts
    by_size = np.argsort(-counts, kind='stable')  # the groups still active are a prefix
    sizes = counts[by_size]
    for t in range(int(sizes[0])):
        g = by_size[:int(np.searchsorted(-sizes, -t, side='left'))]
        m = members[start[g] + t]
        pair = np.concatenate([out_b[g], src[m]])
        ga, gb = np.arange(len(g)), np.arange(len(g), 2 * len(g))
        ok = pair_metric(pair, ga, gb, metric) >= threshold
        g, m = g[ok], m[ok]
        out_b[g, :2] = np.minimum(out_b[g, :2], src[m, :2])
        out_b[g, 2:] = np.maximum(out_b[g, 2:], src[m, 2:])
        takes = scores[m] >= out_s[g]
        out_l[g[takes]] = labels[m[takes]]
        out_s[g] = np.maximum(out_s[g], scores[m])
    return out_b, out_s, out_l


def match_merge(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                kind: str = 'GREEDYNMM', metric: str = 'IOS', threshold: float = 0.5,
                class_agnostic: bool = False
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """SAHI's postprocess ``kind`` on one image's detections.

    Args:
        boxes (ndarray[N, 4]): ``(x1, y1, x2, y2)``, any frame.
        scores (ndarray[N]), labels (ndarray[N] int): the detections.
        kind (str): ``'NMS'``, ``'GREEDYNMM'`` or ``'NMM'``.
        metric (str): ``'IOU'`` or ``'IOS'``.
        threshold (float): least metric that matches, in ``(0, 1]``.
        class_agnostic (bool): match boxes of any labels.

    Returns:
        tuple: ``boxes[K, 4]`` float64, ``scores[K]`` float64, ``labels[K]``, and
        ``index[K]`` int64 (the input each output was kept from), by decreasing score.
    """
    boxes = as_boxes(boxes, 'boxes')
    scores, labels = np.asarray(scores), np.asarray(labels)
    if scores.shape != (len(boxes),) or labels.shape != (len(boxes),):
        raise ValueError(f'scores and labels: expected shape ({len(boxes)},), got '
                         f'{scores.shape} and {labels.shape}')
    kind, metric = str(kind).upper(), check_metric(metric)
    threshold = check_threshold(threshold)
    if kind not in ('NMS', 'GREEDYNMM', 'NMM'):
        raise ValueError(f"kind: expected 'NMS', 'GREEDYNMM' or 'NMM', got {kind!r}")
    if len(boxes) == 0:
        z = np.zeros(0, np.int64)
        return boxes, scores.astype(np.float64), labels, z
    b32, s32 = boxes.astype(np.float32), scores.astype(np.float32)
    grp = np.zeros(len(boxes), np.int64) if class_agnostic else labels.astype(np.int64)
    groups = nms_groups(b32, s32, grp, metric, threshold,
                        'transitive' if kind == 'NMM' else 'greedy')
    if kind == 'NMS':
        out = boxes[groups.keep], scores[groups.keep].astype(np.float64), labels[groups.keep]
    else:
        out = merge_groups(boxes, scores.astype(np.float64), labels, groups, metric,
                           threshold)
    by_score = np.argsort(-out[1], kind='stable')
    return (out[0][by_score], out[1][by_score], out[2][by_score],
            groups.keep[by_score])

