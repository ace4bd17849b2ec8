"""ScaleShapes: a generated COCO-format detection data set with COCO-like object sizes.

Six shape classes (:data:`CLASSES`) that differ in outline, not in colour (every instance
gets a random colour, shading, aspect and rotation), drawn on cluttered procedural
backgrounds with unannotated distractors (lines, open arcs, pie slices, irregular blobs).
The realised ``sqrt(area)`` of the annotations spans tiny to huge in COCO's proportions
(about 41% small < 32, 34% medium, 24% large > 96), with about 7.3 objects per image
(median 5, a long tail, a few empty images) and images of COCO's shapes (long side 640,
height / width in [0.6, 1.5]) plus a share of much larger ones (long side 1200-2000) that
do not fit one 512 chip. See ``docs/user_guides/scaleshapes.md``.

Everything is in the ORIGINAL frame (pixels of the written image file). ``bbox`` is the
tight COCO box ``[x, y, w, h]`` of the object's visible pixels (a pixel at column ``c``
spans ``[c, c + 1)``), ``area`` is the number of visible pixels: objects are drawn from
largest to smallest, a later (smaller) object may hide at most half of an earlier one,
and the annotation describes what remains visible, as COCO's masks do.

Pure NumPy + Pillow, deterministic from the seed: image ``i`` of split ``s`` draws from
its own generator seeded by ``(seed, crc32(s), i)``, so the same arguments give
byte-identical annotation files and identical pixels, and a split's first ``n`` images
do not depend on how many images the split has.
"""
from __future__ import annotations

import inspect
import json
import math
import multiprocessing as mp
import os
import re
import time
import zlib
from typing import Any, Callable, Iterator, Mapping, NamedTuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ..utils.fileio import atomic_json
from .synthetic import COCO_LARGE_AREA, COCO_LONG_SIDE, COCO_SMALL_AREA

__all__ = [
    'CLASSES', 'DEFAULT_SPLITS', 'RenderedImage', 'ensure_scaleshapes', 'make_scaleshapes',
    'format_summary', 'render_scaleshapes_image'
]

#: Category names; category ``id`` is the 1-based position (circle = 1, ..., ring = 6).
CLASSES: tuple[str, ...] = ('circle', 'triangle', 'square', 'star', 'cross', 'ring')
#: Images per split when ``splits`` is not given.
DEFAULT_SPLITS: dict[str, int] = {'train': 200, 'val': 50}
#: Bumped whenever the same arguments would draw different data; part of ``meta.json``.
GENERATOR_VERSION = 2  # 2: annotations carry ``segmentation`` (polygons of the visible part)

# COCO's size bins (COCOeval's areaRng), in ORIGINAL pixels of area.
_SMALL_AREA, _LARGE_AREA = COCO_SMALL_AREA, COCO_LARGE_AREA
# COCO's sqrt(area) is close to a log-normal (mmsniper.generated.synthetic.COCO_SQRT_AREA: mu 3.743,
# sigma 1.218, the statistics every synthetic generator of mmsniper shares). Here the drawn
# objects then gain area from rasterisation (small ones), lose some to occlusion (large
# ones) and are clipped below at _MIN_SQRT_AREA, so mu and sigma below are calibrated on the
# REALISED annotation areas: 8000 images (seeds 1 and 100) gave 41.1% small, 34.3% medium,
# 24.7% large (COCO: 41%, 34%, 24%); see docs/user_guides/scaleshapes.md.
_SIZE_MU = 3.79
_SIZE_SIGMA = 1.31
_MIN_SQRT_AREA = 5.0  # smaller shapes rasterise to a few pixels of no recognisable outline
_MAX_OBJECTS = 80
_MAX_HIDDEN = 0.5  # a later object may hide at most this share of an earlier one's pixels
_PLACEMENT_TRIES = 20
_COCO_LONG_SIDE = COCO_LONG_SIDE
_FILE_RE = re.compile(r'^\d{6}\.(jpg|png)$')


class RenderedImage(NamedTuple):
    """One generated image and its ground truth, all in the ORIGINAL frame.

    Attributes:
        image: ``ndarray[H, W, 3] uint8``, RGB pixels before file encoding.
        instance_map: ``ndarray[H, W] int32``, 0 for background (and distractors), ``k`` for
            the pixels where annotation ``k - 1`` of ``annotations`` is visible.
        annotations: one dict per object with ``category_id`` (int, 1-based into
            :data:`CLASSES`), ``bbox`` (``[x, y, w, h]`` ints, tight box of its visible
            pixels), ``area`` (int, its visible pixel count) and ``segmentation`` (COCO
            polygons of its visible pixels, :func:`visible_polygons`).
    """

    image: np.ndarray
    instance_map: np.ndarray
    annotations: list[dict[str, Any]]


# ---------------------------------------------------------------------------------------
# argument handling
# ---------------------------------------------------------------------------------------
def _check_splits(splits: Mapping[str, int] | None) -> dict[str, int]:
    if splits is None:
        return dict(DEFAULT_SPLITS)
    if not isinstance(splits, Mapping) or not splits:
        raise ValueError(f'splits: expected a non-empty mapping name -> image count, got '
                         f'{splits!r}')
    out = {}
    for name, count in splits.items():
        if not isinstance(name, str) or not re.fullmatch(r'[A-Za-z0-9_.-]+', name) \
                or name in ('.', '..'):
            raise ValueError(f'splits: expected names of letters, digits, "_", "-" or ".", '
                             f'got {name!r}')
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
            raise ValueError(f'splits[{name!r}]: expected an int >= 0, got {count!r}')
        if count > 999_999:
            raise ValueError(f'splits[{name!r}]: expected at most 999999 images, got {count}')
        out[name] = int(count)
    return out


def _generator_args(splits: Mapping[str, int] | None, seed: int, mean_objects: float,
                    empty_share: float, large_image_share: float, size_mu: float,
                    size_sigma: float, image_format: str, jpeg_quality: int) -> dict[str, Any]:
    """Check the arguments and return them JSON-ready (the ``args`` of ``meta.json``)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f'seed: expected an int >= 0, got {seed!r}')
    if not 0 < mean_objects <= 40:
        raise ValueError(f'mean_objects: expected a number in (0, 40], got {mean_objects!r}')
    if not 0 <= empty_share < 1:
        raise ValueError(f'empty_share: expected a number in [0, 1), got {empty_share!r}')
    if mean_objects < 1 - empty_share:
        raise ValueError(f'mean_objects: expected >= 1 - empty_share = {1 - empty_share} '
                         f'(non-empty images hold at least one object), got {mean_objects}')
    if not 0 <= large_image_share <= 1:
        raise ValueError(f'large_image_share: expected a number in [0, 1], got '
                         f'{large_image_share!r}')
    if not math.isfinite(size_mu):
        raise ValueError(f'size_mu: expected a finite number, got {size_mu!r}')
    if not 0 < size_sigma < 10:
        raise ValueError(f'size_sigma: expected a number in (0, 10), got {size_sigma!r}')
    if image_format not in ('jpg', 'png'):
        raise ValueError(f"image_format: expected 'jpg' or 'png', got {image_format!r}")
    if isinstance(jpeg_quality, bool) or not isinstance(jpeg_quality, (int, np.integer)) \
            or not 1 <= jpeg_quality <= 100:
        raise ValueError(f'jpeg_quality: expected an int in [1, 100], got {jpeg_quality!r}')
    return dict(splits=_check_splits(splits), seed=int(seed), mean_objects=float(mean_objects),
                empty_share=float(empty_share), large_image_share=float(large_image_share),
                size_mu=float(size_mu), size_sigma=float(size_sigma), image_format=image_format,
                jpeg_quality=int(jpeg_quality))


def _image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng(
        np.random.SeedSequence([int(seed), zlib.crc32(split.encode('utf-8')), int(index)]))


# ---------------------------------------------------------------------------------------
# image layout
# ---------------------------------------------------------------------------------------
def _image_shape(rng: np.random.Generator, large_image_share: float) -> tuple[int, int]:
    """(height, width): COCO-like aspect ratios, long side 640 or, for a share, 1200-2000."""
    u = rng.random()
    if u < 0.5:
        ratio = 0.75  # h / w of COCO's most common 640 x 480
    elif u < 0.65:
        ratio = 4 / 3
    else:
        ratio = rng.uniform(0.6, 1.5)
    long_side = _COCO_LONG_SIDE
    if rng.random() < large_image_share:
        long_side = int(rng.integers(1200, 2001))
    if ratio <= 1:
        return int(round(long_side * ratio)), long_side
    return long_side, int(round(long_side / ratio))


def _object_count(rng: np.random.Generator, mean_objects: float, empty_share: float) -> int:
    """0 with ``empty_share``, else 1 + geometric: mean ``mean_objects``, median ~5, p99 ~33."""
    if rng.random() < empty_share:
        return 0
    extra = mean_objects / (1 - empty_share) - 1  # mean of the geometric part
    if extra <= 0:
        return 1
    return int(min(1 + rng.negative_binomial(1, 1 / (1 + extra)), _MAX_OBJECTS))


# ---------------------------------------------------------------------------------------
# background and distractors
# ---------------------------------------------------------------------------------------
def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """ndarray[h, w] float32, about N(0, 1) values varying over ``cell`` pixels."""
    gh, gw = int(h / cell) + 2, int(w / cell) + 2
    grid = rng.standard_normal((gh, gw), dtype=np.float32)
    return np.asarray(Image.fromarray(grid).resize((w, h), Image.BICUBIC))


def _background(rng: np.random.Generator, h: int, w: int) -> Image.Image:
    """RGB image (h, w): gradient + value noise + patchy stripes + soft blobs."""
    # Smooth parts are built at a quarter of the resolution and upsampled: 16x fewer pixels.
    f = 4
    hl, wl = -(-h // f) + 1, -(-w // f) + 1
    yy, xx = np.mgrid[0:hl, 0:wl].astype(np.float32)
    theta = rng.uniform(0, 2 * np.pi)
    t = xx * np.float32(np.cos(theta)) + yy * np.float32(np.sin(theta))
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    c0, c1 = rng.uniform(0, 255, (2, 3)).astype(np.float32)
    bg = c0 + t[..., None] * (c1 - c0)
    for cell, amp in ((rng.uniform(15, 60), rng.uniform(15, 45)),
                      (rng.uniform(2, 6), rng.uniform(5, 20))):
        colour = rng.uniform(0.3, 1.0, 3).astype(np.float32) * np.float32(amp)
        bg += _smooth_noise(rng, hl, wl, cell)[..., None] * colour
    if rng.random() < 0.5:
        # stripes (period 16-100 full-resolution pixels) in patches
        period = rng.uniform(4, 25)
        phi = rng.uniform(0, 2 * np.pi)
        wave = np.sin((xx * np.float32(np.cos(phi)) + yy * np.float32(np.sin(phi)))
                      * np.float32(2 * np.pi / period) + np.float32(rng.uniform(0, 2 * np.pi)))
        patch = np.clip(_smooth_noise(rng, hl, wl, rng.uniform(20, 60)) * 2 + 0.5, 0, 1)
        colour = rng.uniform(-1, 1, 3).astype(np.float32) * np.float32(rng.uniform(20, 60))
        bg += (np.tanh(3 * wave) * patch)[..., None] * colour
    low = Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8))
    # soft blobs: ellipses on their own layer, composited through a blurred alpha (soft
    # edges, so that no blob passes for an annotated circle)
    n_blobs = rng.poisson(3 + 4 * h * w / 640**2)
    if n_blobs:
        layer = low.copy()  # outside the ellipses the blurred alpha blends bg with itself
        alpha = Image.new('L', (wl, hl), 0)
        dl, da = ImageDraw.Draw(layer), ImageDraw.Draw(alpha)
        blur = rng.uniform(2, 5)
        for _ in range(n_blobs):
            r = np.exp(rng.uniform(np.log(3), np.log(max(hl, wl) / 3)))
            cx, cy = rng.uniform(0, wl), rng.uniform(0, hl)
            ax = r * rng.uniform(0.5, 1.5)
            # the colour reaches past the blurred alpha, else its edge would stay hard
            m = 3 * blur
            dl.ellipse([cx - ax - m, cy - r - m, cx + ax + m, cy + r + m],
                       fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
            da.ellipse([cx - ax, cy - r, cx + ax, cy + r], fill=int(rng.integers(40, 160)))
        alpha = alpha.filter(ImageFilter.GaussianBlur(blur))
        low = Image.composite(layer, low, alpha)
    return low.resize((w, h), Image.BILINEAR)


def _draw_distractors(rng: np.random.Generator, img: Image.Image, size_mu: float,
                      size_sigma: float) -> None:
    """Unannotated clutter: polylines, open arcs, pie slices and irregular polygons."""
    w, h = img.size
    draw = ImageDraw.Draw(img)
    n = rng.poisson(6 * max(1.0, h * w / (640 * 480)))
    for _ in range(n):
        size = float(np.clip(np.exp(rng.normal(size_mu, size_sigma)), 6, min(h, w) / 2))
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        kind = rng.integers(4)
        if kind == 0:  # polyline
            k = int(rng.integers(2, 5))
            pts = np.c_[cx, cy] + rng.normal(0, size, (k, 2))
            width = int(max(1, size * rng.uniform(0.02, 0.12)))
            draw.line([tuple(p) for p in pts], fill=colour, width=width)
        elif kind == 1:  # open arc: part of a ring outline, never closed
            start = rng.uniform(0, 360)
            box = [cx - size, cy - size * rng.uniform(0.6, 1), cx + size, cy + size]
            width = int(max(1, size * rng.uniform(0.05, 0.3)))
            draw.arc(box, start, start + rng.uniform(60, 270), fill=colour, width=width)
        elif kind == 2:  # pie slice: a partial disc, blunt (not a triangle), not closed
            start = rng.uniform(0, 360)
            box = [cx - size, cy - size, cx + size, cy + size]
            draw.pieslice(box, start, start + rng.uniform(110, 270), fill=colour)
        else:  # irregular polygon: random radii make it neither regular nor round
            k = int(rng.integers(6, 11))
            ang = np.sort(rng.uniform(0, 2 * np.pi, k))
            rad = size * rng.uniform(0.35, 1.0, k)
            pts = np.c_[cx + rad * np.cos(ang), cy + rad * np.sin(ang)]
            draw.polygon([tuple(p) for p in pts], fill=colour)


# ---------------------------------------------------------------------------------------
# the shapes
# ---------------------------------------------------------------------------------------
def _polygon_area(pts: np.ndarray) -> float:
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _circle(n: int = 96, r: float = 1.0) -> np.ndarray:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.c_[r * np.cos(a), r * np.sin(a)]


def _unit_shape(label: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """(outer polygon ndarray[K, 2], hole polygon or None), about unit size, centred at 0."""
    name = CLASSES[label]
    if name == 'circle':
        return _circle(), None
    if name == 'ring':
        return _circle(), _circle(r=rng.uniform(0.45, 0.7))
    if name == 'triangle':
        a = -np.pi / 2 + np.arange(3) * 2 * np.pi / 3 + rng.uniform(-0.25, 0.25, 3)
        r = rng.uniform(0.85, 1.1, 3)
        return np.c_[r * np.cos(a), r * np.sin(a)], None
    if name == 'square':
        return np.array([[-1., -1.], [1., -1.], [1., 1.], [-1., 1.]]), None
    if name == 'star':
        a = -np.pi / 2 + np.arange(10) * np.pi / 5
        r = np.where(np.arange(10) % 2 == 0, 1.0, rng.uniform(0.38, 0.55))
        return np.c_[r * np.cos(a), r * np.sin(a)], None
    t = rng.uniform(0.22, 0.36)  # cross: half the arm thickness, arms of half-length 1
    return np.array([[-t, -1], [t, -1], [t, -t], [1, -t], [1, t], [t, t], [t, 1], [-t, 1],
                     [-t, t], [-1, t], [-1, -t], [-t, -t]], dtype=np.float64), None


def _rasterise(outer: np.ndarray, hole: np.ndarray | None, x0: int, y0: int, w: int,
               h: int) -> np.ndarray:
    """ndarray[h, w] bool mask of the polygon(s), given in the frame whose origin is (x0, y0)."""
    canvas = Image.new('L', (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    draw.polygon([tuple(p) for p in outer - (x0, y0)], fill=255)
    if hole is not None:
        draw.polygon([tuple(p) for p in hole - (x0, y0)], fill=0)
    return np.asarray(canvas) > 0


def visible_polygons(mask: np.ndarray, x0: int = 0, y0: int = 0) -> list[list[float]]:
    """COCO polygons whose union is ``mask`` (up to staircase corners).

    Polygons cannot hold holes (COCO unions an object's polygons), and a visible part
    has holes wherever a later object covers its inside (and every ring has one), so
    the mask is cut along a column through each hole until none is left; the pieces'
    outlines are the polygons. Outlines are traced on the mask upsampled twice, so
    vertices lie a quarter pixel inside the pixel edges, and are simplified by half a
    pixel: rasterised by ``pycocotools`` (pixel ``c`` spans ``[c, c + 1)``) they give
    back the mask but for a few pixels at slanted edges.

    Args:
        mask (ndarray[h, w] bool): the visible pixels, in a frame whose origin is
            ``(x0, y0)`` of the ORIGINAL image.
        x0, y0 (int): that origin, ORIGINAL pixels.

    Returns:
        list[list[float]]: flat ``[x0, y0, x1, y1, ...]`` polygons in ORIGINAL pixels,
        each of at least 3 points, rounded to 2 decimals.
    """
    import cv2  # the generator itself needs only NumPy and Pillow

    pieces, polys, cuts = [np.pad(mask.astype(np.uint8), 1)], [], 0
    while pieces:
        piece = pieces.pop()
        up = np.repeat(np.repeat(piece, 2, 0), 2, 1)
        contours, hierarchy = cv2.findContours(up, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
        holes = [c for c, h in zip(contours, hierarchy[0] if hierarchy is not None else [])
                 if h[3] != -1]
        hole_cols = np.zeros(0, np.int64)
        if holes:  # the hole's own (background) pixels inside its outline
            inside = cv2.drawContours(np.zeros_like(up), holes[:1], -1, 1, -1)
            hole_cols = np.flatnonzero((inside.astype(bool) & (up == 0)).any(0)) // 2
        if len(hole_cols) and cuts < 10_000:
            # cut at a column holding hole pixels: the left piece ends before it, the right
            # one starts at it; each piece's part of the hole now reaches the empty side
            col = int(np.median(hole_cols))
            left, right = piece.copy(), piece.copy()
            left[:, col:] = 0
            right[:, :col] = 0
            pieces += [left, right]
            cuts += 1
            continue
        contours = [c for c, h in zip(contours, hierarchy[0] if hierarchy is not None else [])
                    if h[3] == -1]
        for c in contours:
            c = cv2.approxPolyDP(c, 0.5, True).reshape(-1, 2)
            if len(c) < 3:
                continue
            # upsampled pixel u is ORIGINAL (u + 0.5) / 2 - 1 (the pad) + origin
            xy = (c + 0.5) / 2 - 1 + (x0, y0)
            polys.append([round(float(v), 2) for v in xy.reshape(-1)])
    return polys


def render_scaleshapes_image(seed: int, split: str, index: int, *, mean_objects: float = 7.5,
                             empty_share: float = 0.03, large_image_share: float = 0.1,
                             size_mu: float = _SIZE_MU,
                             size_sigma: float = _SIZE_SIGMA) -> RenderedImage:
    """Draw image ``index`` (0-based) of ``split``, exactly as :func:`make_scaleshapes` does.

    Args:
        seed (int): data set seed, >= 0.
        split (str): split name; it seeds the image too, so splits differ.
        index (int): image index within the split, >= 0 (the file is ``{index + 1:06d}``).
        mean_objects, empty_share, large_image_share, size_mu, size_sigma: as in
            :func:`make_scaleshapes`.

    Returns:
        RenderedImage: pixels ``ndarray[H, W, 3] uint8``, instance map ``ndarray[H, W] int32``
        and the annotations, all in the ORIGINAL frame.
    """
    _generator_args({split: 1}, seed, mean_objects, empty_share, large_image_share, size_mu,
                    size_sigma, 'png', 90)
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
        raise ValueError(f'index: expected an int >= 0, got {index!r}')
    rng = _image_rng(seed, split, index)
    h, w = _image_shape(rng, large_image_share)
    n_obj = _object_count(rng, mean_objects, empty_share)

    # 1. background and unannotated distractors (behind every object)
    pil = _background(rng, h, w)
    _draw_distractors(rng, pil, size_mu, size_sigma)
    img = np.array(pil)
    inst = np.zeros((h, w), np.int32)

    # 2. objects, largest first, so small objects stay whole and large ones lose a little
    labels = rng.integers(len(CLASSES), size=n_obj)
    sqrt_areas = np.maximum(np.exp(rng.normal(size_mu, size_sigma, n_obj)), _MIN_SQRT_AREA)
    order = np.argsort(-sqrt_areas, kind='stable')
    drawn: list[int] = []  # pixel count of each placed object as drawn
    visible: list[int] = []  # ... and still visible
    boxes: list[tuple[int, int, int, int]] = []  # (x0, y0, x1, y1) of the drawn mask region
    cats: list[int] = []
    for j in order:
        label = int(labels[j])
        outer, hole = _unit_shape(label, rng)
        # random aspect (area-preserving) and rotation, then scale to the target area
        aspect = np.exp(rng.uniform(-0.25, 0.25))
        rot = rng.uniform(0, 2 * np.pi)
        tf = np.array([[np.cos(rot), -np.sin(rot)], [np.sin(rot), np.cos(rot)]]) \
            @ np.diag([np.sqrt(aspect), 1 / np.sqrt(aspect)])
        unit_area = _polygon_area(outer) - (0.0 if hole is None else _polygon_area(hole))
        scale = sqrt_areas[j] / np.sqrt(unit_area)
        outer = outer @ tf.T * scale
        hole = None if hole is None else hole @ tf.T * scale
        lo, hi = outer.min(0), outer.max(0)
        # shapes larger than the image shrink to fit (they stay large: > 96 px)
        fit = min(1.0, (w - 2) / (hi[0] - lo[0]), (h - 2) / (hi[1] - lo[1]))
        outer, lo, hi = outer * fit, lo * fit, hi * fit
        hole = None if hole is None else hole * fit
        colour = rng.integers(0, 256, 3)
        shade = rng.uniform(-40, 40, 2)
        for _ in range(_PLACEMENT_TRIES):
            off = rng.uniform(-lo, (w - 1, h - 1) - hi)
            o, ho = outer + off, None if hole is None else hole + off
            x0, y0 = np.floor(o.min(0)).astype(int)
            x1, y1 = np.ceil(o.max(0)).astype(int) + 2
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
            mask = _rasterise(o, ho, x0, y0, x1 - x0, y1 - y0)
            n_px = int(np.count_nonzero(mask))
            if n_px == 0:
                break  # too small to leave a pixel: not drawn, not annotated
            inst_region = inst[y0:y1, x0:x1]
            hidden = np.bincount(inst_region[mask], minlength=len(drawn) + 1)[1:]
            if np.any(np.asarray(visible) - hidden < (1 - _MAX_HIDDEN) * np.asarray(drawn)):
                continue  # would hide too much of an earlier object: try elsewhere
            region = img[y0:y1, x0:x1]
            # a colour that stands out from what lies beneath (a few tries)
            step = max(1, int(math.sqrt(n_px / 256)))
            below = region[::step, ::step][mask[::step, ::step]].mean(0)
            for _ in range(4):
                if np.abs(colour - below).sum() >= 90:
                    break
                colour = rng.integers(0, 256, 3)
            # linear shading across the object so it is not a flat colour
            ramp = (np.linspace(-shade[0] / 2, shade[0] / 2, x1 - x0, dtype=np.float32)[None]
                    + np.linspace(-shade[1] / 2, shade[1] / 2, y1 - y0, dtype=np.float32)[:, None])
            region[mask] = np.clip(colour.astype(np.float32) + ramp[mask][:, None], 0, 255
                                   ).astype(np.uint8)
            for k in np.flatnonzero(hidden):
                visible[k] -= int(hidden[k])
            inst_region[mask] = len(drawn) + 1
            drawn.append(n_px)
            visible.append(n_px)
            boxes.append((x0, y0, x1, y1))
            cats.append(label + 1)
            break

    # 3. sensor noise over everything (objects included)
    # (luminance grain, triangular: the difference of the two nibbles of a random byte;
    # a lookup table scales it, far cheaper than normal draws per channel)
    sigma = rng.uniform(2, 6)
    nibbles = np.arange(256)
    lut = np.round(((nibbles & 15) - (nibbles >> 4)) * (sigma / 6.5)).astype(np.int16)
    grain = np.take(lut, np.frombuffer(rng.bytes(h * w), np.uint8).reshape(h, w))
    out = img + grain[..., None]
    np.clip(out, 0, 255, out=out)
    img = out.astype(np.uint8)

    # 4. annotations from what stayed visible
    anns = []
    for k, (x0, y0, x1, y1) in enumerate(boxes):
        m = inst[y0:y1, x0:x1] == k + 1
        rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
        anns.append(dict(category_id=cats[k],
                         bbox=[int(x0 + cols[0]), int(y0 + rows[0]),
                               int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)],
                         area=int(visible[k]),
                         segmentation=visible_polygons(m, x0, y0)))
    return RenderedImage(img, inst, anns)


# ---------------------------------------------------------------------------------------
# writing a data set
# ---------------------------------------------------------------------------------------
def _write_json(path: str, obj: Any, compact: bool) -> None:
    atomic_json(path, obj, **(dict(separators=(',', ':')) if compact else dict(indent=2)))


def _render_to_file(task: tuple) -> tuple[int, int, list[dict[str, Any]]]:
    """Render one image, write its file, return (height, width, annotations)."""
    seed, split, index, params, path, image_format, jpeg_quality = task
    r = render_scaleshapes_image(seed, split, index, **params)
    pil = Image.fromarray(r.image)
    if image_format == 'jpg':
        pil.save(path, format='JPEG', quality=jpeg_quality)
    else:
        pil.save(path, format='PNG', compress_level=1)
    return r.image.shape[0], r.image.shape[1], r.annotations


def _map(fn: Callable, tasks: list, workers: int) -> Iterator:
    """``map`` in order, over ``workers`` forked processes when > 1 (images are independent,
    so the result does not depend on ``workers``)."""
    if workers <= 1 or len(tasks) < 2 or 'fork' not in mp.get_all_start_methods():
        yield from map(fn, tasks)
        return
    # fork, not spawn: a spawned worker would re-import the whole mmsniper package
    with mp.get_context('fork').Pool(min(workers, len(tasks))) as pool:
        yield from pool.imap(fn, tasks, chunksize=2)


def _split_stats(num_images: int, counts: list[int], areas: list[int], cats: list[int],
                 long_sides: list[int]) -> dict[str, Any]:
    counts_a = np.asarray(counts, dtype=np.int64)
    areas_a = np.asarray(areas, dtype=np.int64)
    n = max(len(areas_a), 1)
    return dict(
        images=num_images,
        objects=int(len(areas_a)),
        objects_per_image=dict(
            mean=round(float(counts_a.mean()), 3) if num_images else 0.0,
            median=float(np.median(counts_a)) if num_images else 0.0,
            p99=round(float(np.percentile(counts_a, 99)), 2) if num_images else 0.0,
            max=int(counts_a.max()) if num_images else 0,
            empty_images=int((counts_a == 0).sum())),
        size_shares=dict(
            small=round(float((areas_a < _SMALL_AREA).sum()) / n, 4),
            medium=round(float(((areas_a >= _SMALL_AREA) & (areas_a < _LARGE_AREA)).sum()) / n,
                         4),
            large=round(float((areas_a >= _LARGE_AREA).sum()) / n, 4)),
        class_counts={c: int(np.sum(np.asarray(cats) == i + 1)) for i, c in enumerate(CLASSES)},
        large_images=int(sum(s > 1000 for s in long_sides)),
    )


def make_scaleshapes(out_dir: str, splits: Mapping[str, int] | None = None, seed: int = 0,
                     *, mean_objects: float = 7.5, empty_share: float = 0.03,
                     large_image_share: float = 0.1, size_mu: float = _SIZE_MU,
                     size_sigma: float = _SIZE_SIGMA, image_format: str = 'jpg',
                     jpeg_quality: int = 90, workers: int = 1,
                     progress: Callable[[str, int, int], None] | None = None
                     ) -> dict[str, Any]:
    """Generate the ScaleShapes data set in COCO format under ``out_dir``.

    Writes, for every split ``s``::

        out_dir/images/s/000001.jpg ...       (file_name in the JSON: '000001.jpg')
        out_dir/annotations/s.json            (images, annotations, categories)
        out_dir/meta.json                     (arguments + summary; written last)

    Image ids and annotation ids count from 1 within each split. Annotations hold ``id``,
    ``image_id``, ``category_id`` (1-based into :data:`CLASSES`), ``bbox`` ``[x, y, w, h]``
    (ORIGINAL pixels, tight box of the visible pixels, ints, ``w, h >= 1``), ``area`` (the
    visible pixel count), ``segmentation`` (COCO polygons of the visible pixels, holes cut
    open: :func:`visible_polygons`) and ``iscrowd`` 0. Existing ``NNNNNN.jpg|png`` files of a
    written split are removed first, so a smaller regeneration leaves no stale images.

    Args:
        out_dir (str): data set root, created if missing.
        splits (Mapping[str, int] | None): split name -> number of images; default
            :data:`DEFAULT_SPLITS` (``{'train': 200, 'val': 50}``).
        seed (int): >= 0. The same arguments give byte-identical annotation files and
            identical images.
        mean_objects (float): mean objects per image to draw, empty images included (their
            count is 0, the others 1 + geometric). About 3% of the drawn objects cannot be
            placed (mostly huge ones that would hide more than half of an earlier object)
            and are dropped, so the default 7.5 realises COCO's ~7.3.
        empty_share (float): share of images without objects.
        large_image_share (float): share of images with long side 1200-2000 instead of 640.
        size_mu, size_sigma (float): log-normal of the target ``sqrt(area)`` in ORIGINAL
            pixels, before occlusion; the defaults realise COCO's small/medium/large shares.
        image_format (str): 'jpg' (default, quality ``jpeg_quality``) or 'png' (lossless:
            the file holds exactly :func:`render_scaleshapes_image`'s pixels).
        jpeg_quality (int): 1-100.
        workers (int): processes that render and write images (forked; 1: in this process).
            The output does not depend on it.
        progress (callable | None): called as ``progress(split, done, total)`` after each
            image.

    Returns:
        dict: ``args`` (the checked arguments), ``splits`` (per split: ``images``,
        ``objects``, ``objects_per_image`` {mean, median, p99, max, empty_images},
        ``size_shares`` {small, medium, large} of the annotation areas, ``class_counts``,
        ``large_images`` (long side > 1000), ``ann_file`` and ``img_dir`` relative to
        ``out_dir``), ``all`` (the same over all splits, without the paths), ``classes``
        and ``seconds`` (generation time). The same dict is stored in ``meta.json``.
    """
    args = _generator_args(splits, seed, mean_objects, empty_share, large_image_share,
                           size_mu, size_sigma, image_format, jpeg_quality)
    params = dict(mean_objects=args['mean_objects'], empty_share=args['empty_share'],
                  large_image_share=args['large_image_share'], size_mu=args['size_mu'],
                  size_sigma=args['size_sigma'])
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f'workers: expected an int >= 1, got {workers!r}')
    t0 = time.perf_counter()
    os.makedirs(os.path.join(out_dir, 'annotations'), exist_ok=True)
    meta_path = os.path.join(out_dir, 'meta.json')
    if os.path.exists(meta_path):
        os.remove(meta_path)  # until the new one is written, the directory is incomplete
    categories = [dict(id=i + 1, name=c, supercategory='shape') for i, c in enumerate(CLASSES)]
    per_split: dict[str, Any] = {}
    totals: dict[str, list] = dict(counts=[], areas=[], cats=[], long_sides=[])
    for split, num in args['splits'].items():
        img_dir = os.path.join(out_dir, 'images', split)
        os.makedirs(img_dir, exist_ok=True)
        for name in os.listdir(img_dir):
            if _FILE_RE.match(name):
                os.remove(os.path.join(img_dir, name))
        images, annotations = [], []
        counts, long_sides = [], []
        tasks = [(args['seed'], split, i, params, os.path.join(img_dir, f'{i + 1:06d}.'
                  f'{image_format}'), image_format, args['jpeg_quality']) for i in range(num)]
        for i, (h, w, anns) in enumerate(_map(_render_to_file, tasks, workers)):
            images.append(dict(id=i + 1, file_name=f'{i + 1:06d}.{image_format}', width=w,
                               height=h))
            for a in anns:
                annotations.append(dict(id=len(annotations) + 1, image_id=i + 1,
                                        category_id=a['category_id'], bbox=a['bbox'],
                                        area=a['area'], segmentation=a['segmentation'],
                                        iscrowd=0))
            counts.append(len(anns))
            long_sides.append(max(h, w))
            if progress is not None:
                progress(split, i + 1, num)
        coco = dict(
            info=dict(description='ScaleShapes (mmsniper generated data set)',
                      version=GENERATOR_VERSION, seed=args['seed']),
            images=images, annotations=annotations, categories=categories)
        ann_rel = f'annotations/{split}.json'
        _write_json(os.path.join(out_dir, ann_rel), coco, compact=True)
        areas = [a['area'] for a in annotations]
        cats = [a['category_id'] for a in annotations]
        per_split[split] = _split_stats(num, counts, areas, cats, long_sides)
        per_split[split].update(ann_file=ann_rel, img_dir=f'images/{split}/')
        for key, vals in (('counts', counts), ('areas', areas), ('cats', cats),
                          ('long_sides', long_sides)):
            totals[key] += vals
    summary = dict(
        args=args, splits=per_split,
        all=_split_stats(len(totals['counts']), totals['counts'], totals['areas'],
                         totals['cats'], totals['long_sides']),
        classes=list(CLASSES), seconds=round(time.perf_counter() - t0, 2))
    _write_json(meta_path, dict(generator='scaleshapes', version=GENERATOR_VERSION,
                                args=args, summary=summary), compact=False)
    return summary


_MAKE_SIGNATURE = inspect.signature(make_scaleshapes)


def ensure_scaleshapes(root: str, workers: int = 1,
                       progress: Callable[[str, int, int], None] | None = None,
                       **kwargs: Any) -> dict[str, Any]:
    """Generate ScaleShapes under ``root`` unless an identical one is already there.

    Reuses ``root`` when ``root/meta.json`` (written last by :func:`make_scaleshapes`)
    records the same generator version and the same arguments, and every split's
    annotation file exists; otherwise (missing, interrupted, or made with other arguments)
    it regenerates. Demos and tests call this.

    Args:
        root (str): data set root.
        workers (int), progress (callable | None): as in :func:`make_scaleshapes`; they do
            not change the data, so they do not trigger regeneration.
        **kwargs: the arguments of :func:`make_scaleshapes` (``splits``, ``seed``, ...).

    Returns:
        dict: the summary of :func:`make_scaleshapes` (from ``meta.json`` when reused; its
        ``seconds`` is then the original generation time).
    """
    sig = _MAKE_SIGNATURE
    not_data = {'out_dir', 'workers', 'progress'}
    unknown = set(kwargs) - (set(sig.parameters) - not_data)
    if unknown:
        raise ValueError(f'ensure_scaleshapes: expected arguments of make_scaleshapes, got '
                         f'unknown {sorted(unknown)}')
    bound = sig.bind_partial(root, **kwargs)
    bound.apply_defaults()
    call = {k: v for k, v in bound.arguments.items() if k not in not_data}
    args = _generator_args(**call)
    try:
        with open(os.path.join(root, 'meta.json'), encoding='utf-8') as f:
            meta = json.load(f)
    except (OSError, ValueError):
        meta = None
    if (isinstance(meta, dict) and meta.get('generator') == 'scaleshapes'
            and meta.get('version') == GENERATOR_VERSION and meta.get('args') == args
            and all(os.path.isfile(os.path.join(root, 'annotations', f'{s}.json'))
                    for s in args['splits'])):
        return meta['summary']
    return make_scaleshapes(root, workers=workers, progress=progress, **call)


def _fmt_shares(shares: Mapping[str, float]) -> str:
    return ' / '.join(f'{100 * shares[k]:.1f}%' for k in ('small', 'medium', 'large'))


def format_summary(summary: Mapping[str, Any]) -> str:
    """A small text table of a :func:`make_scaleshapes` summary (one row per split)."""
    lines = [f"{'split':<8}{'images':>7}{'objects':>8}{'obj/img':>8}{'median':>7}{'max':>5}"
             f"{'empty':>6}{'>1000px':>8}  small / medium / large"]
    rows = list(summary['splits'].items()) + [('all', summary['all'])]
    for name, s in rows:
        o = s['objects_per_image']
        lines.append(f"{name:<8}{s['images']:>7}{s['objects']:>8}{o['mean']:>8.2f}"
                     f"{o['median']:>7.1f}{o['max']:>5}{o['empty_images']:>6}"
                     f"{s['large_images']:>8}  {_fmt_shares(s['size_shares'])}")
    return '\n'.join(lines)

