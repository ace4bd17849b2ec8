"""Chip statistics of a SNIPER config's training set; see ``--help``."""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _bootstrap  # noqa: E402,F401  (checkout first on sys.path)

# isort: split
from mmengine.config import DictAction  # noqa: E402

from mmsniper.datasets.chip_stats import build_sniper_dataset, compute_chip_stats, format_chip_stats  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(
        description='What SNIPER will train on, from the annotations alone: chips per image '
        'and level, pixels per image against single-scale 800x1333 and the full pyramid, '
        'share of boxes each level covers and ignores, and the planning time.')
    p.add_argument('config', help='a SNIPER config (train_dataloader.dataset is SniperDataset)')
    p.add_argument('--seed', type=int, default=0, help='seed of the chip plan')
    p.add_argument('--epoch', type=int, default=0, help='epoch of the chip plan')
    p.add_argument('--max-images', type=int, default=None, help='only the first N images')
    p.add_argument('--out', help='also write the statistics as JSON here')
    p.add_argument('--strict', action='store_true',
                   help='stop with an error when annotations have data errors (non-finite, '
                   'zero/negative size, outside the image, unknown category); default: leave '
                   'them out and report them by kind, as training does')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='config overrides')
    a = p.parse_args()
    ds = build_sniper_dataset(a.config, a.cfg_options, strict=a.strict)
    st = compute_chip_stats(ds, seed=a.seed, epoch=a.epoch, max_images=a.max_images)
    print(format_chip_stats(st))
    if a.out:
        with open(a.out, 'w') as f:
            json.dump(st, f, indent=2)
        print(f'wrote {a.out}')


if __name__ == '__main__':
    main()
