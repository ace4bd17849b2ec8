"""Generate ScaleShapes, mmsniper's multi-scale COCO-format data set.

    python tools/dataset_converters/make_scaleshapes.py                  # data/scaleshapes
    python tools/dataset_converters/make_scaleshapes.py --splits train=2000 val=500 --seed 1

See ``python tools/dataset_converters/make_scaleshapes.py --help`` and
docs/user_guides/scaleshapes.md.
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/
import _bootstrap  # noqa: E402,F401  (checkout first on sys.path)

# isort: split
from mmsniper.generated.scaleshapes import (  # noqa: E402
    DEFAULT_SPLITS,
    ensure_scaleshapes,
    format_summary,
    make_scaleshapes,
)


def _split_arg(text: str) -> tuple:
    name, sep, count = text.partition('=')
    if not sep or not name or not count.isdigit():
        raise argparse.ArgumentTypeError(f'expected NAME=COUNT (e.g. train=200), got {text!r}')
    return name, int(count)


def parse_args(argv=None) -> argparse.Namespace:
    default_splits = ' '.join(f'{k}={v}' for k, v in DEFAULT_SPLITS.items())
    parser = argparse.ArgumentParser(
        description='Generate ScaleShapes: six shape classes (circle, triangle, square, star, '
        'cross, ring) in random colours on cluttered backgrounds, with COCO-like object sizes '
        '(~41% small, 34% medium, 24% large), ~7.3 objects per image, and 10% of images '
        'with a long side of 1200-2000 px. Writes OUT_DIR/images/SPLIT/NNNNNN.jpg, '
        'OUT_DIR/annotations/SPLIT.json (COCO) and OUT_DIR/meta.json, then prints the '
        'realised statistics. The same arguments always give the same data.',
)
    parser.add_argument('--out-dir', default='data/scaleshapes',
                        help='data set root (default: %(default)s, which the configs read)')
    parser.add_argument('--splits', nargs='+', type=_split_arg, metavar='NAME=COUNT',
                        default=None,
                        help=f'splits and their image counts (default: {default_splits})')
    parser.add_argument('--seed', type=int, default=0,
                        help='random seed >= 0 (default: %(default)s)')
    parser.add_argument('--mean-objects', type=float, default=7.5,
                        help='mean objects per image to draw; about 3%% cannot be placed and '
                        'are dropped (default: %(default)s)')
    parser.add_argument('--empty-share', type=float, default=0.03,
                        help='share of images without objects (default: %(default)s)')
    parser.add_argument('--large-share', type=float, default=0.1,
                        help='share of images with a long side of 1200-2000 px instead of 640 '
                        '(default: %(default)s)')
    parser.add_argument('--format', choices=('jpg', 'png'), default='jpg',
                        help='image file format; png is lossless (default: %(default)s)')
    parser.add_argument('--quality', type=int, default=90,
                        help='JPEG quality (default: %(default)s)')
    parser.add_argument('--workers', type=int, default=min(os.cpu_count() or 1, 8),
                        help='processes rendering images; the output does not depend on it '
                        '(default: %(default)s, the CPU count up to 8)')
    parser.add_argument('--if-missing', action='store_true',
                        help='keep OUT_DIR when its meta.json records the same arguments')
    parser.add_argument('--json', action='store_true',
                        help='print the summary as JSON instead of a table')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    splits = dict(args.splits) if args.splits else None

    def progress(split: str, done: int, total: int) -> None:
        if done == total or done % 10 == 0:
            end = '\n' if done == total else ''
            print(f'\r[scaleshapes] {split}: {done}/{total} images', end=end, file=sys.stderr,
                  flush=True)

    kwargs = dict(splits=splits, seed=args.seed, mean_objects=args.mean_objects,
                  empty_share=args.empty_share, large_image_share=args.large_share,
                  image_format=args.format, jpeg_quality=args.quality, workers=args.workers,
                  progress=progress)
    try:
        if args.if_missing:
            summary = ensure_scaleshapes(args.out_dir, **kwargs)
        else:
            summary = make_scaleshapes(args.out_dir, **kwargs)
    except ValueError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(summary))
        print(f"written to {args.out_dir} in {summary['seconds']:.1f} s (time of the run that "
              f"made it); annotations: " + ', '.join(
                  osp.join(args.out_dir, s['ann_file']) for s in summary['splits'].values()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
