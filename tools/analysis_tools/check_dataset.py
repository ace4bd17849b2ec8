"""Check a COCO-format data set (annotations against images) before a long run; see ``--help``."""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _bootstrap  # noqa: E402,F401  (checkout first on sys.path)

# isort: split
from mmengine.config import DictAction  # noqa: E402

EPILOG = """\
checks:
  file         JSON; "images", "annotations", "categories"; duplicate ids; class names
               missing from "categories"
  annotations  non-finite coordinates, zero/negative/sub-pixel size, outside the image,
               unknown image id or category (errors); "ignore" flags and crowd boxes (notes)
  images       width/height in the file; the file readable; its size decoded as the
               pipeline's LoadImageFromFile decodes it (OpenCV applies the EXIF orientation:
               a rotated phone photo must be annotated with its rotated size) equal to the
               annotated one

exit status: 0 no problems (notes allowed), 1 problems found, 2 the check could not run.

examples:
  python tools/analysis_tools/check_dataset.py data/coco/annotations/instances_train2017.json \\
      --img-dir data/coco/train2017 --nproc 8
  python tools/analysis_tools/check_dataset.py --config configs/sniper_faster_r101.py --nproc 8
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description='Verify a COCO-format annotation file against its images before training: '
        'every image decoded (in parallel) and its size compared with the annotated '
        'width/height, every box checked with the policy training uses (the kinds it leaves '
        'out and reports). Prints a per-kind summary with the first few ids.',
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('ann_file', nargs='?', help='COCO-format JSON (or give --config)')
    p.add_argument('--img-dir', default='',
                   help='folder the images\' file_name is relative to (default: the current '
                   'folder)')
    p.add_argument('--config', help='take ann_file, image folder, classes and the decoding '
                   'settings from this config\'s dataloader dataset instead')
    p.add_argument('--split', default='train', choices=('train', 'val', 'test'),
                   help='with --config: which dataloader (default train)')
    p.add_argument('--classes', nargs='+', help='class names a run trains (default: every '
                   'category of the file; with --config: its metainfo)')
    p.add_argument('--nproc', type=int, default=1, help='processes decoding images (default 1)')
    p.add_argument('--no-decode', action='store_true', help='check the annotations only')
    p.add_argument('--max-ids', type=int, default=5, help='ids shown per kind (default 5)')
    p.add_argument('--json', metavar='OUT.json', help='also write the counts and ids as JSON')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='config overrides')
    a = p.parse_args(argv)
    if not a.ann_file and not a.config:
        p.error('give ANN_FILE (with --img-dir) or --config')
    if a.nproc < 1:
        p.error('--nproc: expected >= 1')

    from mmsniper.datasets.check_dataset import (
        check_coco_dataset,
        dataset_from_config,
        format_check,
    )
    try:
        kw = dict(ann_file=a.ann_file, img_dir=a.img_dir)
        if a.config:
            kw = dataset_from_config(a.config, a.split, a.cfg_options)
        if a.classes:
            kw['classes'] = a.classes
        res = check_coco_dataset(**kw, nproc=a.nproc, decode=not a.no_decode,
                                 max_ids=a.max_ids)
    except ValueError as e:
        print(f'check_dataset: error: {e}', file=sys.stderr)
        return 2
    print(format_check(res))
    if a.json:
        import json
        with open(a.json, 'w') as f:
            json.dump(dict(res.audit.as_dict(), file_problems=res.file_problems,
                           details=res.details, ok=res.ok), f, indent=1)
    return 0 if res.ok else 1


if __name__ == '__main__':
    sys.exit(main())
