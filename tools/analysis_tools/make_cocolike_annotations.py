"""COCO-like annotations without pixels, for chip statistics and benchmarks; see ``--help``.

Drawn by :func:`mmsniper.generated.synthetic.synthetic_coco` (the statistics every synthetic
generator of mmsniper shares, from shared/reference/SNIPER.md): long side 640, h/w in
[0.6, 1.5]; sqrt(area) log-normal (mu 3.743, sigma 1.218): ~41% small, 34% medium, 24%
large; 7.3 objects per image on average (negative binomial, long tail), objects clustered
around a few centres per image as in real photographs; 80 categories.
"""
import argparse
import json
import os
import os.path as osp
import sys

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _bootstrap  # noqa: E402,F401  (checkout first on sys.path)

# isort: split
from mmsniper.generated.synthetic import synthetic_coco  # noqa: E402


def make_cocolike(n_images: int, seed: int = 0) -> dict:
    """A COCO-format dict (images, annotations, 80 categories), ORIGINAL pixel boxes."""
    return synthetic_coco('coco', n_images, seed=seed, num_classes=80, clustered=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('out', help='output annotation JSON, e.g. '
                   'data/coco/annotations/instances_train2017.json')
    p.add_argument('--images', type=int, default=2000, help='number of images (2000)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--coco-names', action='store_true',
                   help="use COCO's 80 class names (so CocoDataset's default metainfo loads "
                   'the boxes, as for configs/sniper_faster_r101.py)')
    a = p.parse_args()
    ann = make_cocolike(a.images, a.seed)
    if a.coco_names:
        from mmdet.datasets import CocoDataset
        for c, name in zip(ann['categories'], CocoDataset.METAINFO['classes']):
            c['name'] = name
    os.makedirs(osp.dirname(osp.abspath(a.out)), exist_ok=True)
    with open(a.out, 'w') as f:
        json.dump(ann, f)
    sizes = np.array([x['area'] for x in ann['annotations']]) ** 0.5
    print(f'{len(ann["images"])} images, {len(sizes)} boxes ({len(sizes) / a.images:.2f} per '
          f'image); small/medium/large {np.mean(sizes < 32):.2f}/'
          f'{np.mean((sizes >= 32) & (sizes < 96)):.2f}/{np.mean(sizes >= 96):.2f}; wrote {a.out}')


if __name__ == '__main__':
    main()
