"""Detect objects in images with a trained model (SNIPER pyramid by default); see ``--help``.

    python tools/infer.py CONFIG CHECKPOINT IMAGES... --out DIR [--device cpu] [--no-tta]
        [--score-thr 0.3]

Writes DIR/detections.json (COCO-style: images, categories, annotations with image_id,
category_id, bbox [x, y, w, h] in image pixels, score) and DIR/vis/<image>.jpg.
"""
import argparse

import _bootstrap  # noqa: F401  (checkout first on sys.path)
from mmengine.config import DictAction


def main() -> None:
    parser = argparse.ArgumentParser(
        description='Detect objects in images: the config\'s SNIPER image pyramid '
        '(tta_model + tta_pipeline; very large images as batched chip grids) or, with '
        '--no-tta, single scale. Writes COCO-style JSON and pictures with boxes.')
    parser.add_argument('config', help='config file (inheriting configs/_base_/sniper_tta.py '
                        'for the pyramid)')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('images', nargs='+', help='image files or folders of images')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--device', default=None,
                        help='torch device (default: cuda:0 when available, else cpu)')
    parser.add_argument('--no-tta', action='store_true',
                        help='single-scale test pipeline and the bare detector')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='drop detections below this score (JSON and pictures)')
    parser.add_argument('--no-draw', action='store_true', help='write no pictures')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value pairs')
    args = parser.parse_args()

    import torch

    from mmsniper.apis.inference import infer

    device = args.device or ('cuda:0' if torch.cuda.is_available() else 'cpu')
    coco = infer(args.config, args.checkpoint, args.images, args.out, device=device,
                 tta=not args.no_tta, score_thr=args.score_thr, draw=not args.no_draw,
                 cfg_options=args.cfg_options)
    print(f'\n{len(coco["annotations"])} detections in {len(coco["images"])} images -> '
          f'{args.out}/detections.json' + ('' if args.no_draw else f', {args.out}/vis/'))


if __name__ == '__main__':
    main()
