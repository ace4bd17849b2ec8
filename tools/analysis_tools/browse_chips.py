"""Pictures of SNIPER chips on a config's training images; see ``--help``."""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _bootstrap  # noqa: E402,F401  (checkout first on sys.path)

# isort: split
from mmengine.config import DictAction  # noqa: E402

from mmsniper.datasets.chip_stats import build_sniper_dataset  # noqa: E402
from mmsniper.visualization.chips import browse_chips, browse_tickets  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(
        description='Draw each image once per pyramid level with that level\'s chips '
        '(thick: positive, thin: negative), the boxes the level trains on (green) and the '
        'boxes it ignores (red), with their instance masks filled in the same colours when '
        'the annotations have segmentation. One PNG per image in --out.')
    p.add_argument('config', help='a SNIPER config')
    p.add_argument('--out', required=True, help='output directory for the PNGs')
    p.add_argument('--num', type=int, default=20, help='number of images (from the start)')
    p.add_argument('--indices', type=int, nargs='+', help='dataset indices to draw instead')
    p.add_argument('--seed', type=int, default=0, help='seed of the chip plan')
    p.add_argument('--tickets', help='draw the chips of this tickets file instead (the '
                   'nonfinite_iter<N>.json a non-finite loss writes to the work directory): '
                   'one PNG per image with the listed chips')
    p.add_argument('--strict', action='store_true',
                   help='stop with an error when annotations have data errors (non-finite, '
                   'zero/negative size, outside the image, unknown category); default: leave '
                   'them out and report them by kind, as training does')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='config overrides')
    a = p.parse_args()
    ds = build_sniper_dataset(a.config, a.cfg_options, strict=a.strict)
    if a.tickets:
        paths = browse_tickets(ds, a.tickets, a.out)
    else:
        paths = browse_chips(ds, a.out, num=a.num, seed=a.seed, indices=a.indices)
    print(f'wrote {len(paths)} pictures to {a.out}')


if __name__ == '__main__':
    main()
