"""COCO-like annotations without pixels, for chip statistics and benchmarks; see ``--help``.

Statistics from shared/reference/SNIPER.md: long side 640, h/w in [0.6, 1.5]; sqrt(area)
log-normal (mu 3.743, sigma 1.218): ~41% small, 34% medium, 24% large; 7.3 objects per image
on average (negative binomial: median 4-5, long tail), objects clustered around a few
centres per image as in real photographs.
"""
import argparse
import json
import os
import os.path as osp

import numpy as np


def make_cocolike(n_images: int, seed: int = 0) -> dict:
    """A COCO-format dict (images, annotations, 80 categories), ORIGINAL pixel boxes."""
    rng = np.random.default_rng(seed)
    images, anns = [], []
    for i in range(1, n_images + 1):
        ratio = rng.uniform(0.6, 1.5)  # h / w
        w, h = (640, int(640 * ratio)) if ratio <= 1 else (int(640 / ratio), 640)
        images.append(dict(id=i, file_name=f'{i:012d}.jpg', width=w, height=h))
        k = int(rng.negative_binomial(1.2, 1.2 / (1.2 + 7.3)))
        centres = rng.uniform((0, 0), (w, h), size=(k // 4 + 1, 2))
        for _ in range(k):
            s = float(np.exp(rng.normal(3.743, 1.218)))
            ar = float(np.exp(rng.normal(0, 0.5)))
            bw, bh = min(w - 1, s * ar ** 0.5), min(h - 1, s / ar ** 0.5)
            c = centres[rng.integers(len(centres))] + rng.normal(0, 60, 2)
            x = float(np.clip(c[0] - bw / 2, 0, w - bw))
            y = float(np.clip(c[1] - bh / 2, 0, h - bh))
            anns.append(dict(id=len(anns) + 1, image_id=i, category_id=int(rng.integers(1, 81)),
                             bbox=[x, y, bw, bh], area=bw * bh, iscrowd=0))
    cats = [dict(id=j, name=f'class_{j}') for j in range(1, 81)]
    return dict(images=images, annotations=anns, categories=cats)


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
