"""Convert the large images of a COCO-style data set to tiled pyramidal TIFFs (once).

    python tools/dataset_converters/convert_large_images.py ANN_FILE IMG_DIR \
        [--out-dir DIR] [--out-ann FILE] [--nproc 4] [--min-pixels N] [--skip-bad]

Then train with the new annotation file and ``LoadChipWindow`` as the first transform;
see ``--help`` and docs/user_guides/large_images.md.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/
import _bootstrap  # noqa: E402,F401  (checkout first on sys.path)


def parse_args(argv=None) -> argparse.Namespace:
    from mmsniper.imagefiles.convert import DEFAULT_FIT_CHIP, DEFAULT_MIN_PIXELS

    parser = argparse.ArgumentParser(
        description='Write each large image of a COCO-style data set as a tiled pyramidal '
        'TIFF (levels 1, 2, 4, ... in 256x256 JPEG tiles) so that LoadChipWindow reads only '
        'the tiles a chip needs, at the level it needs. Writes OUT_DIR/<file_name>.tif, '
        'OUT_DIR/manifest.json and a new annotation file whose converted images point at '
        'their pyramid (same image folder, so data_prefix stays). Small images are kept as '
        'they are. Resumable: up-to-date pyramids (same source size and mtime, same '
        'settings) are not made again.')
    parser.add_argument('ann_file', help='COCO-style annotation file')
    parser.add_argument('img_dir', help='folder the file_name entries are relative to '
                        '(data_root + data_prefix.img of the config)')
    parser.add_argument('--out-dir', help='where the pyramids go (default: IMG_DIR_pyramid '
                        'beside IMG_DIR)')
    parser.add_argument('--out-ann', help='annotation file to write (default: ANN_FILE with '
                        '_pyramid before .json)')
    parser.add_argument('--nproc', type=int, default=1,
                        help='worker processes; each holds one decoded image and its next '
                        'level (20000x20000: ~1.6 GB)')
    parser.add_argument('--min-pixels', type=int, default=DEFAULT_MIN_PIXELS,
                        help='images with at most this many pixels stay as they are '
                        f'(default {DEFAULT_MIN_PIXELS} = 4 chips of 512x512)')
    parser.add_argument('--tile', type=int, default=256, help='tile side (default 256)')
    parser.add_argument('--compression', choices=('jpeg', 'deflate', 'none'), default='jpeg',
                        help='tile compression; deflate and none are lossless, larger and '
                        'slower to read (default jpeg)')
    parser.add_argument('--quality', type=int, default=None,
                        help='JPEG quality of the full-resolution level (default: a JPEG '
                        "source's own, else 95)")
    parser.add_argument('--level-quality', type=int, default=95,
                        help='JPEG quality of the reduced levels (default 95)')
    parser.add_argument('--level-subsampling', choices=('444', '420'), default='444',
                        help='chroma subsampling of the reduced levels (default 444; 420 '
                        'reads faster, colours less faithfully)')
    parser.add_argument('--level-compression', choices=('jpeg', 'deflate', 'none'),
                        default=None,
                        help="the reduced levels' compression (default: --compression's); "
                        'none: raw, faster to read, stored uncompressed (all reduced '
                        'levels together: W*H bytes an image); docs/user_guides/large_images.md')
    parser.add_argument('--fit-chip', type=int, default=DEFAULT_FIT_CHIP,
                        help='chip size of the training config: also store each image '
                        'resized to fit one chip (SNIPER\'s coarsest scale, chip / long '
                        'side), so that chip is read as LoadImageFromFile + ChipGenerator '
                        f'would cut it (default {DEFAULT_FIT_CHIP}; 0: no fit level)')
    parser.add_argument('--skip-bad', action='store_true',
                        help='skip and count unreadable, truncated or wrongly sized images '
                        '(default: stop at the first, naming it)')
    parser.add_argument('--max-image-pixels', type=int, default=2 ** 30,
                        help='refuse images with more pixels (default 2**30)')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    from mmsniper.imagefiles import ImageFileError
    from mmsniper.imagefiles.convert import convert_large_images

    try:
        summary = convert_large_images(
            args.ann_file, args.img_dir, out_dir=args.out_dir, out_ann=args.out_ann,
            nproc=args.nproc, min_pixels=args.min_pixels, tile=args.tile,
            compression=args.compression, quality=args.quality,
            level_quality=args.level_quality, level_subsampling=args.level_subsampling,
            level_compression=args.level_compression, fit_chip=args.fit_chip,
            skip_bad=args.skip_bad,
            max_image_pixels=args.max_image_pixels)
    except (ImageFileError, ValueError, OSError) as e:
        sys.exit(f'convert_large_images.py: error: {e}')
    print(f'\n{summary}\nannotations -> {summary.out_ann}; pyramids and manifest.json -> '
          f'{summary.out_dir}')


if __name__ == '__main__':
    main()
