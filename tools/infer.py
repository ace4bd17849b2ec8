"""Detect objects in images with a trained model (SNIPER pyramid by default); see ``--help``.

    python tools/infer.py CONFIG CHECKPOINT IMAGES... --out DIR [--device cpu] [--no-tta]
        [--score-thr 0.3] [--no-draw] [--strict] [--save-focus] [--batch-size N]
        [--cfg-options k=v ...]

Writes, as MMDetection's DetInferencer does, DIR/preds/<image stem>.json (labels, scores,
bboxes x1 y1 x2 y2 in image pixels) and DIR/vis/<image> per image as soon as it is done,
and at the end DIR/detections.json (COCO-style: images, categories, annotations with
image_id, category_id, bbox [x, y, w, h], score). A rerun resumes; see docs/inference.md.
"""
import argparse
import sys

import _bootstrap  # noqa: F401  (checkout first on sys.path)
from mmengine.config import DictAction


def main() -> None:
    parser = argparse.ArgumentParser(
        description='Detect objects in images: the config\'s SNIPER image pyramid '
        '(tta_model + tta_pipeline; very large images as batched chip grids) or, with '
        '--no-tta, single scale. Per image, as soon as it is done: OUT/preds/<image '
        'stem>.json (labels, scores, bboxes x1,y1,x2,y2; every detection) and OUT/vis/<image> '
        '(boxes >= --score-thr); at the end OUT/detections.json (COCO-style, >= --score-thr). '
        'A rerun into the same OUT skips the images whose preds file exists. Unreadable '
        'image files are skipped and counted (--strict: stop). A checkpoint whose weights '
        'do not fit the config\'s model is refused.')
    parser.add_argument('config', help='config file (inheriting configs/_base_/sniper_tta.py '
                        'for the pyramid); class names come from its data set')
    parser.add_argument('checkpoint', help='checkpoint file trained with this config (one of '
                        'another model or data set is refused, naming the weights that '
                        'differ)')
    parser.add_argument('images', nargs='+', help='image files or folders of images')
    parser.add_argument('--out', required=True,
                        help='output folder; rerunning into it resumes (the same config, '
                        'checkpoint, --no-tta and --cfg-options are required)')
    parser.add_argument('--device', default=None,
                        help='torch device (default: cuda:0 when available, else cpu)')
    parser.add_argument('--no-tta', action='store_true',
                        help='single-scale test pipeline and the bare detector')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='drop detections below this score from detections.json and the '
                        'pictures (preds/ keeps all)')
    parser.add_argument('--no-draw', action='store_true', help='write no pictures')
    parser.add_argument('--strict', action='store_true',
                        help='stop with an error at the first unreadable image file (the '
                        'default skips it with a warning and counts it)')
    parser.add_argument('--save-focus', action='store_true',
                        help='AutoFocus configs: also write OUT/focus/<image>, the coarsest '
                        'scale\'s FocusPixel map (red) and the FocusChips of each finer level')
    parser.add_argument('--batch-size', type=int, default=None,
                        help='images per forward pass, and chips per forward pass of the '
                        'chip grids of very large images (tta_model.chip_cfg.batch_size); '
                        'more is faster where memory allows and never changes the '
                        'detections (default: one image at a time, the config\'s chip '
                        'batch)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value pairs')
    args = parser.parse_args()

    import torch

    from mmsniper.apis.inference import (
        CheckpointMismatchError,
        OutputConflictError,
        UnreadableImageError,
        infer,
    )

    device = args.device or ('cuda:0' if torch.cuda.is_available() else 'cpu')
    try:
        summary = infer(args.config, args.checkpoint, args.images, args.out, device=device,
                        tta=not args.no_tta, score_thr=args.score_thr, draw=not args.no_draw,
                        cfg_options=args.cfg_options, strict=args.strict,
                        save_focus=args.save_focus, batch_size=args.batch_size)
    except (CheckpointMismatchError, OutputConflictError, UnreadableImageError,
            FileNotFoundError) as e:
        sys.exit(f'infer.py: error: {e}')
    coco = summary.coco
    print(f'\n{summary}\n{len(coco["annotations"])} detections in {len(coco["images"])} '
          f'images -> {args.out}/detections.json, {args.out}/preds/'
          + ('' if args.no_draw else f', {args.out}/vis/'))


if __name__ == '__main__':
    main()
