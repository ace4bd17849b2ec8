"""Convert the Airbus Aircraft sample data set (annotations.csv + JPEGs) to COCO JSON.

    python tools/dataset_converters/airbus_aircraft.py ../shared/data/airbus-aircraft
    python tools/analysis_tools/check_dataset.py data/airbus_aircraft/annotations/train.json \
        data/airbus_aircraft/images

Writes data/airbus_aircraft/annotations/{train,val}.json and the link
data/airbus_aircraft/images -> SRC (the images are never copied). See ``--help`` and
docs/user_guides/airbus_aircraft.md.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/
import _bootstrap  # noqa: E402,F401  (checkout first on sys.path)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert the Airbus Aircraft sample data set (SRC/annotations.csv: one '
        'closed pixel polygon a line, classes Airplane and Truncated_airplane; the images in '
        'SRC/train, SRC/valid, SRC/extras) to COCO JSON with one category, airplane; each '
        'annotation keeps its CSV class as "origin" and its row id as "csv_id". The split is '
        'by image and deterministic: every image of SRC/valid, then others in the order of '
        'sha1(seed:name), until --num-val validation images; the rest train. Prints both '
        "splits' counts. Malformed rows, boxes outside their image, CSV images missing on "
        'disk stop the conversion (named, with the first ids) unless --allow-bad; images '
        'without annotations (SRC/extras) are counted, named and left out of both splits.')
    parser.add_argument('src', help='the data set folder (../shared/data/airbus-aircraft)')
    parser.add_argument('--out-dir', default='data/airbus_aircraft',
                        help='where annotations/train.json, annotations/val.json and the '
                        'images link go (default: %(default)s, which the configs read)')
    parser.add_argument('--num-val', type=int, default=25,
                        help='validation images, at least those of SRC/valid (default: '
                        '%(default)s)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the split (default: %(default)s)')
    parser.add_argument('--allow-bad', action='store_true',
                        help='leave rows with data errors out (still counted and named) '
                        'instead of stopping')
    parser.add_argument('--no-link', action='store_true',
                        help='do not link OUT_DIR/images to SRC')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmsniper.annotations.airbus_aircraft import convert_airbus_aircraft

    try:
        report = convert_airbus_aircraft(args.src, args.out_dir, num_val=args.num_val,
                                         seed=args.seed, allow_bad=args.allow_bad,
                                         link_images=not args.no_link)
    except (ValueError, FileNotFoundError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(report.format())
    return 0


if __name__ == '__main__':
    sys.exit(main())
