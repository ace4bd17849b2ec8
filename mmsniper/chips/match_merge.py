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

Only pairs of boxes that intersect can match (``threshold > 0``); they are found by
sort and sweep in horizontal strips (a box in every strip it covers, entries sorted by
``x1``, one ``searchsorted`` for each entry's candidates), each pair once (in the strip
of its intersection's top edge), then tested in float32 on contiguous coordinate
columns. The greedy keep set is computed on ranks (positions in the order) in rounds: a
box whose earlier matches are all removed is kept, a box matched by a kept box is
removed; each round settles at least the first undecided box, and in practice a few
rounds settle all.

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
    """Indices by group, then score descending, then ``x1, y1, x2, y2`` ascending, then
    index."""
    order = np.lexsort((-scores, groups))  # stable: ties by index
    g, s = groups[order], scores[order]
    tie = (g[1:] == g[:-1]) & (s[1:] == s[:-1])
    if tie.any():  # rare: only the runs of equal (group, score) need the box keys
        at = np.zeros(len(order), bool)
        at[1:] |= tie
        at[:-1] |= tie
        pos = np.flatnonzero(at)
        run = np.cumsum(np.r_[True, ~tie])[pos]
        sub = order[pos]
        order[pos] = sub[np.lexsort((boxes[sub, 3], boxes[sub, 2], boxes[sub, 1],
                                     boxes[sub, 0], run))]
    return order


def pair_metric(boxes: np.ndarray, a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    """IoU or IoS of the box pairs ``(a[k], b[k])`` in the dtype of ``boxes``."""
    cols = _columns(boxes)
    return _metric(cols, _area(cols), a, b, metric)


def _columns(boxes: np.ndarray) -> tuple[np.ndarray, ...]:
    """``x1, y1, x2, y2`` as contiguous arrays: gathers by index read less memory."""
    return tuple(np.ascontiguousarray(boxes[:, i]) for i in range(4))


def _area(cols: tuple[np.ndarray, ...]) -> np.ndarray:
    x1, y1, x2, y2 = cols
    return (x2 - x1) * (y2 - y1)


def _overlap(cols: tuple[np.ndarray, ...], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection area of the pairs ``(a[k], b[k])`` (0 if disjoint)."""
    x1, y1, x2, y2 = cols
    w = np.minimum(x2[a], x2[b])
    w -= np.maximum(x1[a], x1[b])
    np.maximum(w, 0, out=w)
    h = np.minimum(y2[a], y2[b])
    h -= np.maximum(y1[a], y1[b])
    np.maximum(h, 0, out=h)
    w *= h
    return w


def _metric(cols: tuple[np.ndarray, ...], area: np.ndarray, a: np.ndarray, b: np.ndarray,
            metric: str, inter: np.ndarray | None = None) -> np.ndarray:
    """IoU or IoS of the pairs ``(a[k], b[k])``; ``area`` per box, ``inter`` per pair
    when already known. The same float operations as on gathered ``[P, 4]`` rows."""
    if inter is None:
        inter = _overlap(cols, a, b)
    area_a, area_b = area[a], area[b]
    if metric == 'IOU':
        den = area_a + area_b
        den -= inter
    else:
        den = np.minimum(area_a, area_b)
    out = np.zeros_like(inter)
    np.divide(inter, den, out=out, where=den > 0)
    return out


def matching_pairs(boxes: np.ndarray, groups: np.ndarray, metric: str,
                   threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Every unordered pair of boxes of one group that match, once.

    Sort and sweep in horizontal strips: each box is entered in every strip of height
    ``h`` (the median box height) that it covers; within one (group, strip) the entries
    are sorted by ``x1`` and each is paired with the entries after it whose ``x1`` is at
    most its ``x2`` (one ``searchsorted``). A pair is kept in the strip of its
    intersection's top edge (the larger first strip of the two), so once.

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
    b64 = boxes.astype(np.float64)
    strip = max(float(np.median(b64[:, 3] - b64[:, 1])), 1.0)
    y0 = b64[:, 1].min()
    first = np.floor((b64[:, 1] - y0) / strip).astype(np.int64)
    last = np.floor((b64[:, 3] - y0) / strip).astype(np.int64)
    # One entry per (box, covered strip); an inverted box (y2 < y1) matches nothing.
    per_box = np.maximum(last - first + 1, 1)
    box_of = np.repeat(np.arange(n), per_box)
    entry_strip = first[box_of] + np.arange(len(box_of)) - np.repeat(
        np.cumsum(per_box) - per_box, per_box)
    _, group_id = np.unique(groups, return_inverse=True)
    key = group_id[box_of].astype(np.int64) * (int(last.max()) + 1) + entry_strip
    # (group, strip) and x as one float64 sort value: strips are ``span`` apart, a power
    # of 2 above every x - x0, so no interval reaches the next strip. Rounding is
    # monotone, so ``x1_q < x2_p`` implies ``lo_q <= hi_p``: the candidates are a
    # superset of the pairs that overlap in x, and the metric decides.
    x0 = b64[:, 0].min()
    span = 2.0 ** np.ceil(np.log2(b64[:, 2].max() - x0 + 2))
    lo = key * span + (b64[box_of, 0] - x0)
    order = np.argsort(lo)
    lo, box_of, entry_strip = lo[order], box_of[order], entry_strip[order]
    hi = key[order] * span + (b64[box_of, 2] - x0)
    m = len(lo)
    partners = np.maximum(np.searchsorted(lo, hi, 'right') - np.arange(1, m + 1), 0)
    total = int(partners.sum())
    if total == 0:
        return empty, empty
    p = np.repeat(np.arange(m), partners)
    q = p + 1 + np.arange(total) - np.repeat(np.cumsum(partners) - partners, partners)
    a, b = box_of[p], box_of[q]
    home = entry_strip[p] == np.maximum(first[a], first[b])
    a, b = a[home], b[home]
    # Only intersecting pairs can reach a threshold above 0.
    cols = _columns(boxes)
    inter = _overlap(cols, a, b)
    meet = inter > 0
    a, b, inter = a[meet], b[meet], inter[meet]
    hit = _metric(cols, _area(cols), a, b, metric, inter) >= np.float32(threshold)
    a, b = a[hit], b[hit]
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


def _first_per_later(earlier: np.ndarray, later: np.ndarray, n: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """For each distinct ``later`` (ranks), the smallest ``earlier`` paired with it.

    Returns:
        tuple[ndarray, ndarray]: ``later`` ascending and its first ``earlier``.
    """
    key = np.sort(later * n + earlier)  # one int64 sort instead of a two-key lexsort
    late = key // n
    lead = np.r_[True, late[1:] != late[:-1]]
    return late[lead], key[lead] - late[lead] * n


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
    if merge not in ('greedy', 'transitive'):
        raise ValueError(f"merge: expected 'greedy' or 'transitive', got {merge!r}")
    n = len(boxes)
    order = score_order(boxes, scores, groups)
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    # Everything below works on ranks (positions in the order): earlier = smaller.
    a, b = matching_pairs(boxes, groups, metric, threshold)
    a, b = rank[a], rank[b]
    a, b = np.minimum(a, b), np.maximum(a, b)
    if merge == 'greedy':
        kept = greedy_keep(n, a, b)
        # A removed box joins the earliest kept box matching it; visited in the order.
        by_kept = kept[a] & ~kept[b]
        members, keeper = _first_per_later(a[by_kept], b[by_kept], n)
        visit = members
    else:
        # Claims go from a box to a later one it dominates: a higher score, or the
        # same score and box (different boxes of one score never claim each other).
        s, bx = scores[order], boxes[order]
        dom = (s[a] > s[b]) | (bx[a] == bx[b]).all(1)
        members, claimer = _first_per_later(a[dom], b[dom], n)
        root = np.arange(n)
        root[members] = claimer
        while True:  # pointer jumping: the keeper at the top of each claim chain
            nxt = root[root]
            if np.array_equal(nxt, root):
                break
            root = nxt
        kept = root == np.arange(n)
        keeper = root[members]
        # Visited in the order of their claimers, then by index.
        visit = claimer * n + order[members]
    pos = np.cumsum(kept) - 1  # position in keep of each kept rank
    owner = pos[keeper]
    s = np.lexsort((visit, owner))
    return MatchGroups(order[kept], order[members[s]], owner[s])


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

