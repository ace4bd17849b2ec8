"""Instance masks through ChipGenerator (issue 16, item 1): a mask cut by the chip is the crop
of the full mask, for polygons and bitmaps, at every level; masks stay aligned with boxes,
labels and ignore flags; malformed masks are named."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks, PolygonMasks

from mmsniper.chips import SniperSettings, make_ticket, plan_image
from mmsniper.chips.masks import clip_polygon
from mmsniper.datasets import ChipGenerator

# The ScaleShapes CPU settings (configs/scaleshapes/sniper_faster_r18_scaleshapes.py), but
# the coarsest level at short side 240 (its test scale) instead of long side 256: a chip
# there can then cut objects too (at long side 256 one chip holds the whole image).
SETTINGS = SniperSettings.from_dict(dict(
    scales=[(960, 1400), (480, 800), (240, 400)],
    train_ranges=[(-1, 48), (24, 112), (96, -1)], chip_size=256, stride=16))


def raster(polys, h: int, w: int) -> np.ndarray:
    """bool[h, w]: pixels whose centre is inside the union of flat polygons (even-odd
    rule per polygon; exact, unlike pycocotools' 5x-upsampled rasteriser, whose rounding
    differs between two vertex lists of one outline)."""
    out = np.zeros((h, w), bool)
    for p in polys:
        q = np.asarray(p, np.float64).reshape(-1, 2)
        if len(q) < 3:
            continue
        # only the pixels of the polygon's bounding box (speed)
        c0, r0 = (int(v) for v in np.clip(np.floor(q.min(0)), 0, (w, h)))
        c1, r1 = (int(v) for v in np.clip(np.ceil(q.max(0)) + 1, 0, (w, h)))
        if c1 <= c0 or r1 <= r0:
            continue
        ys, xs = np.mgrid[r0:r1, c0:c1] + 0.5
        inside = np.zeros(ys.shape, bool)
        for (x1, y1), (x2, y2) in zip(q, np.roll(q, -1, 0)):
            if y1 == y2:
                continue
            crosses = (y1 > ys) != (y2 > ys)
            x_at = x1 + (ys - y1) * (x2 - x1) / (y2 - y1)
            inside ^= crosses & (xs < x_at)
        out[r0:r1, c0:c1] |= inside
    return out


def star(rng, cx, cy, r, k=7) -> np.ndarray:
    """A non-convex star polygon (flat), ORIGINAL pixels."""
    a = np.sort(rng.uniform(0, 2 * np.pi, 2 * k))
    rad = np.where(np.arange(2 * k) % 2 == 0, r, r * rng.uniform(0.35, 0.7))
    return np.stack([cx + rad * np.cos(a), cy + rad * np.sin(a)], 1).reshape(-1)


def scene(seed: int):
    rng = np.random.default_rng(seed)
    w, h = int(rng.integers(500, 900)), int(rng.integers(400, 700))
    polys, boxes = [], []
    for _ in range(12):
        r = float(np.exp(rng.uniform(np.log(6), np.log(180))))
        p = star(rng, rng.uniform(0, w), rng.uniform(0, h), r)
        p[0::2], p[1::2] = p[0::2].clip(0, w), p[1::2].clip(0, h)
        xy = p.reshape(-1, 2)
        if np.ptp(xy[:, 0]) < 2 or np.ptp(xy[:, 1]) < 2:
            continue
        polys.append([p])
        boxes.append([*xy.min(0), *xy.max(0)])
    return w, h, polys, np.asarray(boxes, np.float32)


def results(w, h, polys, boxes, masks) -> dict:
    n = len(boxes)
    return dict(img=np.full((h, w, 3), 200, np.uint8), img_shape=(h, w), ori_shape=(h, w),
                width=w, height=h, gt_bboxes=HorizontalBoxes(boxes.copy()),
                gt_bboxes_labels=np.arange(n, dtype=np.int64),
                gt_ignore_flags=np.zeros(n, bool), gt_masks=masks)


def _area_weights(n: int, size: int, f: float, t: float) -> np.ndarray:
    """float[n, size]: share of CHIP pixel j's footprint ``[(j - t) / f, (j + 1 - t) / f)``
    (ORIGINAL) covered by ORIGINAL pixel i, ``[i, i + 1)``."""
    lo = (np.arange(n)[:, None] - t) / f
    hi = lo + 1 / f
    i = np.arange(size)[None, :]
    return np.clip(np.minimum(hi, i + 1) - np.maximum(lo, i), 0, None) * f


def resample_reference(full: np.ndarray, affine, ph: int, pw: int, scale: float
                       ) -> np.ndarray:
    """The FULL ORIGINAL bitmap resampled with the chip's map over the chip's window (no
    crop first), thresholded at 0.5: exact area averaging when the level shrinks (what
    INTER_AREA computes), bilinear at the chip's pixel centres when it enlarges."""
    sx, sy, tx, ty = affine
    if scale < 1:
        h, w = full.shape
        cover = _area_weights(ph, h, sy, ty) @ full.astype(np.float64) \
            @ _area_weights(pw, w, sx, tx).T
        return cover >= 0.5
    m = np.array([[1 / sx, 0, (0.5 - tx) / sx - 0.5], [0, 1 / sy, (0.5 - ty) / sy - 0.5]])
    out = cv2.warpAffine(full.astype(np.float32), m, (pw, ph),
                         flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out >= 0.5


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum()) / max(1, float((a | b).sum()))


def test_clip_polygon_exact_cases():
    sq = np.array([0, 0, 10, 0, 10, 10, 0, 10], float)
    assert len(clip_polygon(sq, (20, 20, 30, 30))) == 0  # outside: nothing
    inside = clip_polygon(sq, (-5, -5, 50, 50))
    assert np.allclose(inside.reshape(-1, 2), sq.reshape(-1, 2))  # inside: unchanged
    half = clip_polygon(sq, (5, -5, 50, 50)).reshape(-1, 2)
    assert half[:, 0].min() == 5 and half[:, 0].max() == 10
    area = 0.5 * abs(np.dot(half[:, 0], np.roll(half[:, 1], 1))
                     - np.dot(half[:, 1], np.roll(half[:, 0], 1)))
    assert area == pytest.approx(50)


def test_masks_on_chips_are_crops_of_the_full_mask():
    """Polygons: clipped polygon raster vs the full polygon mapped and rasterised on the
    chip's window. Bitmaps: the chip's mask vs the full bitmap resampled with the chip's map
    over its window. IoU >= 0.99 for every instance >= 32 px in the chip, all levels."""
    gen = ChipGenerator()
    tested = {0: 0, 1: 0, 2: 0}
    cut = {0: 0, 1: 0, 2: 0}
    for seed in range(3):
        w, h, polys, boxes = scene(seed)
        full_bits = np.stack([raster(p, h, w) for p in polys]).astype(np.uint8)
        plan = plan_image(boxes, (w, h), SETTINGS, rng=np.random.default_rng(seed))
        for chip in plan.positive:
            t = make_ticket(0, chip, SETTINGS)
            rp = gen.transform(dict(results(w, h, polys, boxes, PolygonMasks(polys, h, w)),
                                    chip=t))
            rb = gen.transform(dict(results(w, h, polys, boxes, BitmapMasks(full_bits, h, w)),
                                    chip=t))
            assert len(rp['gt_masks']) == len(rp['gt_bboxes']) == len(rp['gt_ignore_flags'])
            assert (rp['gt_masks'].height, rp['gt_masks'].width) == (256, 256)
            assert rb['gt_masks'].masks.shape[1:] == (256, 256)
            # the filled part and the map, as the image was cut
            sx, sy = rp['scale_factor']
            _, (_, _, tx, ty), (ph, pw) = gen._cut(np.zeros((h, w), np.uint8), chip, 256)
            idx = rp['gt_bboxes_labels']  # labels are the original indices here
            assert np.array_equal(idx, rb['gt_bboxes_labels'])
            for k, i in enumerate(idx.tolist()):
                mapped = [np.asarray(p).reshape(-1, 2) * (sx, sy) + (tx, ty) for p in polys[i]]
                ref = raster([m.reshape(-1) for m in mapped], ph, pw)
                if ref.sum() < 32 * 32:
                    continue
                got = raster(rp['gt_masks'].masks[k], 256, 256)
                assert not got[ph:].any() and not got[:, pw:].any()  # nothing in the padding
                assert iou(got[:ph, :pw], ref) >= 0.99, (seed, chip, i)
                bref = resample_reference(full_bits[i], (sx, sy, tx, ty), ph, pw, chip.scale)
                bgot = rb['gt_masks'].masks[k].astype(bool)
                assert iou(bgot[:ph, :pw], bref) >= 0.99, (seed, chip, i, iou(bgot[:ph, :pw],
                                                                              bref))
                tested[chip.level] += 1
                whole = np.concatenate(mapped)
                if (whole.min(0) < -1).any() or whole[:, 0].max() > pw + 1 \
                        or whole[:, 1].max() > ph + 1:
                    cut[chip.level] += 1
    # the test checked every level, with masks the chip border cuts
    assert all(n >= 3 for n in tested.values()), tested
    assert all(n >= 1 for n in cut.values()), cut


def test_masks_follow_boxes_flags_and_ignores():
    """Boxes outside the chip leave with their masks; ignored boxes keep theirs (for
    PackDetInputs to move to ignored_instances: no mask loss)."""
    w, h = 400, 300
    polys = [[np.array([10, 10, 60, 10, 60, 60, 10, 60], float)],      # in, in range
             [np.array([300, 200, 390, 200, 390, 290, 300, 290], float)],  # outside the chip
             [np.array([100, 100, 104, 100, 104, 104, 100, 104], float)]]  # in, too small
    boxes = np.array([[10, 10, 60, 60], [300, 200, 390, 290], [100, 100, 104, 104]],
                     np.float32)
    from mmsniper.chips import Chip
    from mmsniper.datasets import ChipTicket
    t = ChipTicket(0, Chip(0, 1.0, (0, 0, 200, 150)), (20.0, 200.0), 256, 2.0, 0.5)
    r = ChipGenerator().transform(results(w, h, polys, boxes, PolygonMasks(polys, h, w))
                                  | dict(chip=t))
    assert r['gt_bboxes_labels'].tolist() == [0, 2]
    assert r['gt_ignore_flags'].tolist() == [False, True]
    assert len(r['gt_masks']) == 2
    assert raster(r['gt_masks'].masks[0], 256, 256).sum() == 50 * 50
    # PackDetInputs splits masks with the flags: the ignored one is not a training mask
    from mmdet.datasets.transforms import PackDetInputs
    packed = PackDetInputs()(dict(r, img=r['img']))
    assert len(packed['data_samples'].gt_instances.masks) == 1
    assert len(packed['data_samples'].ignored_instances.masks) == 1


def test_mask_errors_name_the_image():
    w, h = 100, 80
    boxes = np.array([[0, 0, 50, 50]], np.float32)
    from mmsniper.chips import Chip
    from mmsniper.datasets import ChipTicket
    t = ChipTicket(0, Chip(0, 1.0, (0, 0, 100, 80)), (0.0, np.inf), 128, 2.0, 0.5)
    bad = BitmapMasks(np.zeros((1, 40, 50), np.uint8), 40, 50)  # an RLE of the wrong size
    r = results(w, h, [], boxes, bad) | dict(chip=t, img_path='x/7.jpg', img_id=7)
    with pytest.raises(ValueError, match=r'x/7\.jpg \(img_id 7\).*40x50'):
        ChipGenerator().transform(r)
    two = PolygonMasks([[np.zeros(6)], [np.zeros(6)]], h, w)
    r = results(w, h, [], boxes, two) | dict(chip=t, img_path='x/7.jpg', img_id=7)
    with pytest.raises(ValueError, match='2 masks for 1 boxes'):
        ChipGenerator().transform(r)
