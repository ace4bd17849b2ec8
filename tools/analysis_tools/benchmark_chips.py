"""Time positive-chip generation on COCO-like synthetic annotations.

Single thread: the BLAS/OpenMP thread counts are pinned to 1 before NumPy loads.
For each number of boxes per image and each stride it draws ``--images`` synthetic
images (long side 640, h/w in [0.6, 1.5], box sqrt(area) log-normal with mu 3.743,
sigma 1.218 as in COCO, aspect ratios jittered), times
``mmsniper.chips.generate_positive_chips`` at the three COCO scales and training
ranges, and reports the median milliseconds per image (each image's fastest of
``--repeat`` runs) next to the official C++ generator's, plus the chips' pixels
against single-scale 800x1333 training and against the full three-scale pyramid.

Example:
    python tools/analysis_tools/benchmark_chips.py --images 300 --json chips_bench.json
"""
import os

for _var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS',
             'NUMEXPR_NUM_THREADS', 'VECLIB_MAXIMUM_THREADS'):
    os.environ[_var] = '1'  # before NumPy is imported anywhere

import argparse  # noqa: E402
import json  # noqa: E402
import os.path as osp  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _bootstrap  # noqa: E402,F401  (checkout first on sys.path)

from mmsniper.chips import SniperSettings  # noqa: E402  (NumPy only, no MMDetection)

#: SNIPER's COCO training scales and ranges: the ``sniper`` defaults, read from their one
#: source (``SniperSettings``; ``configs/_base_/sniper_settings.py`` holds the same values).
COCO_SCALES = [tuple(s) for s in SniperSettings.scales]
COCO_TRAIN_RANGES = [tuple(r) for r in SniperSettings.train_ranges]
SINGLE_SCALE = (800, 1333)
#: ms per image of the official C++ generator (all three COCO scales, one core),
#: as given in the project brief; None where no number was given.
OFFICIAL_MS = {32: {7: 0.45, 30: 0.95, 100: 2.5}, 57: {7: 0.18, 30: 0.38, 100: 1.0}}


def _chips():
    """The chip engine, imported late so that ``--help`` needs nothing but NumPy."""
    from mmsniper import chips
    return chips


def coco_like_image(rng: np.random.Generator, n_boxes: int) -> tuple[np.ndarray, tuple]:
    """One synthetic image: ``(boxes [N, 4] xyxy original pixels, (w, h))``
    (:func:`mmsniper.generated.synthetic.coco_like_image`)."""
    from mmsniper.generated.synthetic import coco_like_image as draw

    return draw(rng, n_boxes)


def bench(n_boxes: int, stride: int, images: int, chip_size: int, seed: int,
          repeat: int = 3) -> dict:
    """Time one configuration; return a row of results.

    Each image is timed ``repeat`` times (fresh shuffle each time) and keeps its
    fastest run, which filters out other processes on a shared machine; the row
    reports the median over images of those per-image times.
    """
    chips_api = _chips()
    generate_positive_chips = chips_api.generate_positive_chips
    chip_pixels, pyramid_pixels = chips_api.chip_pixels, chips_api.pyramid_pixels
    data_rng = np.random.default_rng(seed)
    chip_rng = np.random.default_rng(seed + 1)
    data = [coco_like_image(data_rng, n_boxes) for _ in range(images)]
    for boxes, size in data[:10]:  # warm-up
        generate_positive_chips(boxes, size, COCO_SCALES, COCO_TRAIN_RANGES, chip_size, stride,
                                chip_rng)
    best = np.full(len(data), np.inf)
    for _ in range(repeat):
        for k, (boxes, size) in enumerate(data):
            t0 = time.perf_counter()
            generate_positive_chips(boxes, size, COCO_SCALES, COCO_TRAIN_RANGES, chip_size,
                                    stride, chip_rng)
            best[k] = min(best[k], time.perf_counter() - t0)
    n_chips, padded, unpadded, single, pyramid = [], [], [], [], []
    for boxes, size in data:
        chips = generate_positive_chips(boxes, size, COCO_SCALES, COCO_TRAIN_RANGES, chip_size,
                                        stride, chip_rng)
        n_chips.append(len(chips))
        padded.append(chip_pixels(chips, chip_size))
        unpadded.append(chip_pixels(chips, chip_size, padded=False))
        single.append(pyramid_pixels(size, [SINGLE_SCALE]))
        pyramid.append(pyramid_pixels(size, COCO_SCALES))
    ms = best * 1e3
    official = OFFICIAL_MS.get(stride, {}).get(n_boxes)
    return dict(
        boxes=n_boxes, stride=stride, images=images, repeat=repeat, median_ms=float(np.median(ms)),
        mean_ms=float(ms.mean()), p90_ms=float(np.percentile(ms, 90)), official_ms=official,
        chips_per_image=float(np.mean(n_chips)),
        mpix_padded=float(np.mean(padded)) / 1e6, mpix_unpadded=float(np.mean(unpadded)) / 1e6,
        mpix_single_scale=float(np.mean(single)) / 1e6,
        mpix_pyramid=float(np.mean(pyramid)) / 1e6,
        vs_800x1333=float(np.mean(padded)) / (800 * 1333),
        vs_single_scale=float(np.mean(padded) / np.mean(single)),
        vs_pyramid=float(np.mean(padded) / np.mean(pyramid)))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Time mmsniper positive-chip generation (single thread) on COCO-like '
                    'synthetic images at the three COCO scales and compare with the official '
                    'C++ generator; also report chip pixels per image.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--images', type=int, default=300,
                        help='synthetic images per configuration (median over them)')
    parser.add_argument('--boxes', type=int, nargs='+', default=[7, 30, 100, 900],
                        help='boxes per image, one configuration each')
    parser.add_argument('--strides', type=int, nargs='+', default=[32, 57],
                        help='candidate grid strides in scaled pixels')
    parser.add_argument('--repeat', type=int, default=3,
                        help='time each image this many times and keep its fastest run')
    parser.add_argument('--chip-size', type=int, default=SniperSettings.chip_size,
                        help='chip side, scaled pixels')
    parser.add_argument('--seed', type=int, default=0, help='seed of the synthetic data')
    parser.add_argument('--json', metavar='OUT', help='also write the results to this file')
    return parser.parse_args(argv)


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    rows = [bench(n, s, args.images, args.chip_size, args.seed, args.repeat)
            for s in args.strides for n in args.boxes]
    print(f'numpy {np.__version__}, python {platform.python_version()}, '
          f'{platform.machine()}, one thread; {args.images} images per row, best of '
          f'{args.repeat} runs per image; positive chips only')
    print(f'{"boxes":>5} {"stride":>6} {"ms/img":>7} {"p90":>6} {"C++":>5} {"chips":>6} '
          f'{"MP/img":>6} {"x800x1333":>9} {"x1-scale":>8} {"xpyramid":>8}')
    for r in rows:
        cpp = f'{r["official_ms"]:.2f}' if r['official_ms'] is not None else '-'
        print(f'{r["boxes"]:>5} {r["stride"]:>6} {r["median_ms"]:>7.3f} {r["p90_ms"]:>6.2f} '
              f'{cpp:>5} {r["chips_per_image"]:>6.1f} {r["mpix_padded"]:>6.2f} '
              f'{r["vs_800x1333"]:>9.2f} {r["vs_single_scale"]:>8.2f} {r["vs_pyramid"]:>8.2f}')
    print('MP/img: padded chip pixels (chips x chip_size^2); x800x1333: / 1.07 MP; '
          'x1-scale: / the image resized to (800, 1333); xpyramid: / all three scales.')
    if args.json:
        meta = dict(numpy=np.__version__, python=platform.python_version(),
                    machine=platform.machine(), processor=platform.processor(),
                    scales=COCO_SCALES, ranges=COCO_TRAIN_RANGES, chip_size=args.chip_size,
                    seed=args.seed)
        with open(args.json, 'w') as f:
            json.dump(dict(meta=meta, results=rows), f, indent=2)
    return rows


if __name__ == '__main__':
    main()
