"""What a training chip costs to load: image size x file kind x level, old path vs new.

    python tools/analysis_tools/benchmark_loading.py                      # ~5 min, 2 cores
    python tools/analysis_tools/benchmark_loading.py --sizes 640x480 4000x3000 --formats jpeg tiff

Generates the images (JPEG, PNG, and the tiled pyramid TIFF the converter makes) in a
temporary folder and prints a Markdown table (docs/reports/large_images.md shows one); see --help.
"""
import os

for _var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(_var, '1')  # one thread per worker, as data-loader workers

import argparse  # noqa: E402
import json  # noqa: E402
import os.path as osp  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/
import _bootstrap  # noqa: E402,F401  (checkout first on sys.path)


def _size(text: str) -> tuple:
    w, sep, h = text.lower().partition('x')
    if not sep or not w.isdigit() or not h.isdigit():
        raise argparse.ArgumentTypeError(f'expected WxH (e.g. 4000x3000), got {text!r}')
    return int(w), int(h)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Chips per second per worker and peak memory of loading a 512x512 '
        'training chip, for each image size, file kind (jpeg, png, tiled pyramid tiff) and '
        'chip scale: the old path (LoadImageFromFile + ChipGenerator: the whole file '
        'decoded per chip) against the new one (LoadChipWindow + ChipGenerator). One '
        'forked, single-threaded worker per (size, file, path). Files are generated in a '
        'temporary folder; the OS file cache is warm.')
    parser.add_argument('--sizes', type=_size, nargs='+',
                        default=[(640, 480), (4000, 3000), (10000, 8000), (20000, 20000)],
                        help='image sizes WxH (default: 640x480 4000x3000 10000x8000 '
                        '20000x20000)')
    parser.add_argument('--formats', nargs='+',
                        choices=('jpeg', 'png', 'tiff', 'tiff-raw', 'tiff-none'),
                        default=['jpeg', 'png', 'tiff', 'tiff-raw'],
                        help='file kinds (default: all but tiff-none; tiff-raw: the pyramid '
                        'with uncompressed reduced levels, --level-compression none; '
                        'tiff-none: every level uncompressed, --compression none, 4 bytes '
                        'of disk a pixel)')
    parser.add_argument('--max-chips', type=int, default=20,
                        help='chips per level at most (default 20)')
    parser.add_argument('--min-seconds', type=float, default=1.0,
                        help='time per level after which no more chips are cut (default 1)')
    parser.add_argument('--all-levels', action='store_true',
                        help='images >= 50 MP: measure every level on the old path too '
                        '(default: the finest and the coarsest; each chip is a whole decode)')
    parser.add_argument('--no-sniper-scales', action='store_true',
                        help="leave out SNIPER's default training scales (by default each "
                        'image is also cut at them: not powers of 2, so resampled from a '
                        'level)')
    parser.add_argument('--oversample', type=int, choices=(1, 2), default=1,
                        help='2: the new path reads one level finer than the chip needs and '
                        'low-passes it, LoadChipWindow(oversample=2) (default 1)')
    parser.add_argument('--level-quality', type=int, default=95,
                        help="the pyramid's reduced levels: JPEG quality (default 95)")
    parser.add_argument('--level-subsampling', choices=('444', '420'), default='444',
                        help="the pyramid's reduced levels: chroma subsampling (default 444)")
    parser.add_argument('--inference', action='store_true',
                        help='instead: peak memory of SNIPER pyramid inference (scales 1, '
                        '0.25, 0.05; 1024 chip grids; a stand-in detector) on the largest '
                        'of --sizes, LoadImageFromFile against LoadImageForPyramid, for '
                        'the jpeg and tiff files')
    parser.add_argument('--dir', help='folder for the files (kept; default: a temporary '
                        'folder, removed at the end)')
    parser.add_argument('--json', help='also write the raw results to this JSON file')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    from mmsniper.analysis.benchmark import format_table, inference_memory, run_benchmark

    folder = args.dir or tempfile.mkdtemp(prefix='mmsniper-loading-')
    os.makedirs(folder, exist_ok=True)
    if args.inference:
        size = max(args.sizes, key=lambda s: s[0] * s[1])
        try:
            rows = inference_memory(folder, size, [f for f in args.formats if f != 'png'])
        finally:
            if not args.dir:
                shutil.rmtree(folder, ignore_errors=True)
        print(f'\n| {size[0]}x{size[1]} file | loading | seconds | chips | peak RSS added / '
              'absolute (MB) |\n|---|---|---|---|---|')
        for r in rows:
            print(f'| {r["format"]} | {r["path"]} | {r["seconds"]:.1f} | {r["chips"]} | '
                  f'{r["rss_added_mb"]:.0f} / {r["rss_peak_mb"]:.0f} |')
        return
    try:
        result = run_benchmark(folder, args.sizes, args.formats, max_chips=args.max_chips,
                               min_seconds=args.min_seconds, all_levels=args.all_levels,
                               level_quality=args.level_quality,
                               level_subsampling=args.level_subsampling,
                               sniper=not args.no_sniper_scales,
                               oversample=args.oversample)
    finally:
        if not args.dir:
            shutil.rmtree(folder, ignore_errors=True)
    print()
    print(format_table(result))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
