"""COCO-like synthetic data: the statistics and samplers mmsniper's generators share.

Every generator of synthetic data in the project draws from here: the scale advisor's
annotation files (``advise_scales.py --make-synthetic``), the chip statistics' COCO-like
annotations (``tools/analysis_tools/make_cocolike_annotations.py``), the chip benchmark
(``tools/analysis_tools/benchmark_chips.py``) and ScaleShapes
(:mod:`mmsniper.generated.scaleshapes`, which renders pixels and takes the image size and
COCO's size bins from here). NumPy only.

The COCO train2017 statistics (``shared/reference/SNIPER.md``): long side 640 with ``h / w``
in ``[0.6, 1.5]``; ``sqrt(area)`` log-normal with mu 3.743, sigma 1.218 (41 % small, 34 %
medium, 24 % large); 7.3 objects per image on average with a long tail. Boxes are
``[x, y, w, h]`` in ORIGINAL pixels in the COCO dicts, ``(x1, y1, x2, y2)`` elsewhere.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np

#: Long side of a COCO image, pixels.
COCO_LONG_SIDE = 640
#: ``h / w`` of COCO images, drawn uniformly in this interval.
COCO_ASPECT_RANGE = (0.6, 1.5)
#: ``(mu, sigma)`` of the log-normal ``sqrt(area)`` of COCO boxes, ORIGINAL pixels.
COCO_SQRT_AREA = (3.743, 1.218)
#: Mean number of objects per COCO image.
COCO_OBJECTS_PER_IMAGE = 7.3
#: COCOeval's small / large area limits (``areaRng``), ORIGINAL pixels of area.
COCO_SMALL_AREA, COCO_LARGE_AREA = 32 ** 2, 96 ** 2

#: Per kind of :func:`synthetic_coco`: objects per image and count dispersion.
KINDS = ('coco', 'aerial')


def image_sizes(rng: np.random.Generator, n: int, long_side: float = COCO_LONG_SIDE,
                aspect_range: Tuple[float, float] = COCO_ASPECT_RANGE) -> np.ndarray:
    """``ndarray[n, 2] float64``: ``(w, h)`` of ``n`` images, long side ``long_side`` and
    ``h / w`` uniform in ``aspect_range``, whole pixels (rounded)."""
    ratio = rng.uniform(*aspect_range, n)
    w = np.where(ratio <= 1, long_side, np.round(long_side / ratio))
    h = np.where(ratio <= 1, np.round(long_side * ratio), long_side)
    return np.stack([w, h], axis=1).astype(np.float64)


def object_counts(rng: np.random.Generator, n: int, mean: float,
                  dispersion: float) -> np.ndarray:
    """``ndarray[n] int64``: negative-binomial object counts of mean ``mean`` (smaller
    ``dispersion``: longer tail; COCO's median is about 5 for a mean of 7.3)."""
    return rng.negative_binomial(dispersion, dispersion / (dispersion + mean), n).astype(
        np.int64)


def box_sides(rng: np.random.Generator, sqrt_area: np.ndarray, aspect_sigma: float,
              max_w: np.ndarray, max_h: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Width and height of boxes of the given ``sqrt(area)``: log-normal aspect ratio
    (``aspect_sigma``), each side in ``[1, max]``."""
    aspect = np.exp(rng.normal(0.0, aspect_sigma, len(sqrt_area)))  # w / h
    bw = np.maximum(np.minimum(sqrt_area * np.sqrt(aspect), max_w), 1.0)
    bh = np.maximum(np.minimum(sqrt_area / np.sqrt(aspect), max_h), 1.0)
    return bw, bh


def coco_like_image(rng: np.random.Generator, n_boxes: int) -> Tuple[np.ndarray, tuple]:
    """One COCO-like image: ``(boxes ndarray[N, 4] (x1, y1, x2, y2) ORIGINAL pixels,
    (w, h))``, boxes placed uniformly."""
    (w, h), = image_sizes(rng, 1)
    side = np.exp(rng.normal(*COCO_SQRT_AREA, n_boxes))
    bw, bh = box_sides(rng, side, 0.5, w, h)
    x1 = rng.uniform(0, 1, n_boxes) * (w - bw)
    y1 = rng.uniform(0, 1, n_boxes) * (h - bh)
    return np.stack([x1, y1, x1 + bw, y1 + bh], axis=1), (float(w), float(h))


def synthetic_coco(kind: str, num_images: int, seed: int = 0,
                   objects_per_image: Optional[float] = None, num_classes: int = 1,
                   clustered: bool = False) -> dict:
    """A synthetic COCO-format annotation dict (no pixels), for benchmarks and demos.

    ``'coco'``: :func:`image_sizes`, box ``sqrt(area)`` log-normal (:data:`COCO_SQRT_AREA`),
    aspect ratios log-normal (sigma 0.5), a negative-binomial number of boxes per image
    (mean 7.3, dispersion 1.5). ``'aerial'``: 4000x4000 images, ``sqrt(area)`` log-uniform
    in ``[4, 40]``, aspect sigma 0.3, Poisson number of boxes (mean 150), half of them in
    about 6 clusters per image (parking lots). Boxes lie inside their image.

    Args:
        kind (str): ``'coco'`` or ``'aerial'``.
        num_images (int): images.
        seed (int): seed.
        objects_per_image (float | None): mean boxes per image (default per kind).
        num_classes (int): categories ``1..num_classes`` (``class_k`` names), drawn
            uniformly; 1: one category ``'object'``.
        clustered (bool): ``'coco'`` only: boxes gather around ``k // 4 + 1`` centres per
            image (spread 60 px), as objects in photographs do.

    Returns:
        dict: ``images``, ``annotations`` (``bbox`` ``[x, y, w, h]``, ``area``, ``iscrowd``
        0, ``category_id``) and ``categories``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind: expected 'coco' or 'aerial', got {kind!r}")
    rng = np.random.default_rng(seed)
    n = int(num_images)
    if kind == 'coco':
        mean = COCO_OBJECTS_PER_IMAGE if objects_per_image is None else float(objects_per_image)
        wh = image_sizes(rng, n)
        counts = object_counts(rng, n, mean, 1.5)
    else:
        mean = 150.0 if objects_per_image is None else float(objects_per_image)
        wh = np.full((n, 2), 4000.0)
        counts = rng.poisson(mean, n)
    w, h = wh[:, 0], wh[:, 1]
    m = int(counts.sum())
    img = np.repeat(np.arange(n), counts)
    iw, ih = w[img], h[img]
    if kind == 'coco':
        side = np.exp(rng.normal(*COCO_SQRT_AREA, m))
    else:
        side = np.exp(rng.uniform(math.log(4), math.log(40), m))
    bw, bh = box_sides(rng, side, 0.5 if kind == 'coco' else 0.3, iw, ih)
    x = rng.uniform(0, 1, m) * (iw - bw)
    y = rng.uniform(0, 1, m) * (ih - bh)
    if kind == 'aerial':  # half the boxes in ~6 clusters per image, 300 px wide
        cl = rng.random(m) < 0.5
        cx = rng.uniform(300, 3700, (n, 6))
        cy = rng.uniform(300, 3700, (n, 6))
        pick = rng.integers(0, 6, m)
        x = np.where(cl, np.clip(cx[img, pick] + rng.normal(0, 100, m), 0, iw - bw), x)
        y = np.where(cl, np.clip(cy[img, pick] + rng.normal(0, 100, m), 0, ih - bh), y)
    elif clustered:  # around k // 4 + 1 centres of each image
        n_centres = counts // 4 + 1
        c_first = np.concatenate([[0], np.cumsum(n_centres)[:-1]])
        c_img = np.repeat(np.arange(n), n_centres)
        centres = rng.uniform(0, 1, (len(c_img), 2)) * wh[c_img]
        pick = c_first[img] + np.floor(rng.random(m) * n_centres[img]).astype(np.int64)
        c = centres[pick] + rng.normal(0, 60, (m, 2))
        x = np.clip(c[:, 0] - bw / 2, 0, iw - bw)
        y = np.clip(c[:, 1] - bh / 2, 0, ih - bh)
    labels = rng.integers(1, num_classes + 1, m) if num_classes > 1 else np.ones(m, np.int64)
    x, y, bw, bh = (np.round(v, 2) for v in (x, y, bw, bh))
    images = [dict(id=int(i + 1), file_name=f'{i + 1:012d}.jpg', width=int(w[i]),
                   height=int(h[i])) for i in range(n)]
    xs, ys, ws, hs, ims = x.tolist(), y.tolist(), bw.tolist(), bh.tolist(), (img + 1).tolist()
    lab = labels.tolist()
    anns = [dict(id=j + 1, image_id=ims[j], category_id=int(lab[j]),
                 bbox=[xs[j], ys[j], ws[j], hs[j]], area=round(ws[j] * hs[j], 2), iscrowd=0)
            for j in range(m)]
    cats = ([dict(id=1, name='object')] if num_classes == 1 else
            [dict(id=k, name=f'class_{k}') for k in range(1, num_classes + 1)])
    return dict(images=images, annotations=anns, categories=cats)
