"""Sliced inference at equal work: mmsniper's chip grid against SAHI's get_sliced_prediction.

    python tools/analysis_tools/benchmark_sliced_inference.py [IMAGES ...]
        [--config CFG] [--checkpoint CKPT] [--slice-size 512] [--overlap-ratio 0.2]
        [--postprocess-type GREEDYNMM] [--match-metric IOS] [--match-threshold 0.5]
        [--class-agnostic] [--score-thr 0.05] [--standard-pred off on] [--batch-size 4]
        [--merge-counts 1000 10000 100000] [--merge-only] [--out results.json]

IMAGES: image files or folders, or ``generated:SIDE`` (a SIDE x SIDE image tiled from
ScaleShapes pictures). Default: the Airbus validation images (2560 x 2560) in
../shared/data/airbus-aircraft/valid and ``generated:8000``. See
docs/reports/sliced_inference.md and mmsniper/analysis/benchmark_sliced.py.
"""
import argparse
import json
import os.path as osp
import sys
import tempfile

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _bootstrap  # noqa: E402,F401  (checkout first on sys.path)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
AIRBUS_VALID = osp.join(osp.dirname(REPO), 'shared', 'data', 'airbus-aircraft', 'valid')


def main() -> None:
    parser = argparse.ArgumentParser(
        description='mmsniper\'s batched chip grid against SAHI\'s get_sliced_prediction '
        '(with SAHI\'s own MMDetection wrapper) at equal work: the same detector (config + '
        'checkpoint, or random weights), the same decoded pixels, the same slices, the same '
        'merger and thresholds; SAHI\'s full-image prediction off and on (mmsniper then adds '
        'a whole-image pyramid level of the same size). Prints seconds per image, the share '
        'of time beyond the network\'s own forward passes, merge time, peak memory (each arm '
        'in its own process), and the agreement of the detections (one-to-one matches at '
        'IoU 0.9, score differences); then the cost of merging 1k/10k/100k detections, '
        'mmsniper\'s merger against SAHI\'s postprocess.')
    parser.add_argument('images', nargs='*', help='image files or folders, or generated:SIDE '
                        '(default: the Airbus validation images and generated:8000)')
    parser.add_argument('--config', default=None, help='config whose model is used (default: '
                        'configs/scaleshapes/faster_r18_scaleshapes.py)')
    parser.add_argument('--checkpoint', default=None,
                        help='its weights (default: random weights, torch seed 0: timings '
                        'and agreement hold, detections are meaningless)')
    parser.add_argument('--slice-size', type=int, default=512)
    parser.add_argument('--overlap-ratio', type=float, default=0.2)
    parser.add_argument('--postprocess-type', default='GREEDYNMM', choices=['NMS', 'GREEDYNMM',
                                                                          'NMM'])
    parser.add_argument('--match-metric', default='IOS', choices=['IOU', 'IOS'])
    parser.add_argument('--match-threshold', type=float, default=0.5)
    parser.add_argument('--class-agnostic', action='store_true')
    parser.add_argument('--score-thr', type=float, default=0.05,
                        help='the detector\'s score threshold and SAHI\'s confidence_threshold '
                        '(low: many detections)')
    parser.add_argument('--standard-pred', nargs='+', default=['off', 'on'],
                        choices=['off', 'on'], help='SAHI\'s full-image prediction')
    parser.add_argument('--batch-size', type=int, default=4, help='mmsniper\'s chips per '
                        'forward pass (SAHI\'s wrapper takes one)')
    parser.add_argument('--threads', type=int, default=2, help='torch CPU threads per arm')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--merge-counts', type=int, nargs='*', default=[1000, 10000, 100000],
                        help='also time the merger alone on this many detections')
    parser.add_argument('--merge-only', action='store_true',
                        help='time the merger alone (--merge-counts), no images')
    parser.add_argument('--out', help='write all results as JSON here')
    args = parser.parse_args()

    from mmsniper.analysis.benchmark_sliced import (
        DEFAULT_CONFIG,
        benchmark_sliced,
        format_rows,
        merger_cost,
    )
    from mmsniper.apis.inference import list_images

    images = []
    for item in [] if args.merge_only else args.images or [AIRBUS_VALID, 'generated:8000']:
        images += [item] if item.startswith('generated:') else list_images([item])
    result = dict(command=' '.join(['python'] + sys.argv))
    groups = [[im for im in images if not im.startswith('generated:')],
              [im for im in images if im.startswith('generated:')]]
    result['runs'] = []
    with tempfile.TemporaryDirectory() as work_dir:
        for group in (g for g in groups if g):
            run = benchmark_sliced(
                group, work_dir, config=args.config or DEFAULT_CONFIG,
                checkpoint=args.checkpoint, slice_size=args.slice_size,
                overlap_ratio=args.overlap_ratio, postprocess_type=args.postprocess_type,
                match_metric=args.match_metric, match_threshold=args.match_threshold,
                class_agnostic=args.class_agnostic, score_thr=args.score_thr,
                standard_pred=[s == 'on' for s in args.standard_pred],
                batch_size=args.batch_size, threads=args.threads, device=args.device)
            print(f'\n{len(group)} image(s) {run["arms"][0]["mmsniper"]["images"][0]["shape"]}, '
                  f'weights: {run["model"]["weights"]}')
            print(format_rows(run), flush=True)
            result['runs'].append(run)
    if args.merge_counts:
        cost = merger_cost(args.merge_counts, args.postprocess_type, args.match_metric,
                           args.match_threshold, args.class_agnostic)
        print(f'\nmerging ({args.postprocess_type} {args.match_metric} '
              f'{args.match_threshold}, 1 thread): n | mmsniper s | SAHI postprocess s '
              '(ratio) | SAHI array function s (ratio) | kept mmsniper / SAHI')
        for c in cost:
            print(f'{c["n"]:>7d} | {c["mmsniper_s"]:.4f} | {c["sahi_postprocess_s"]:.4f} '
                  f'(x{c["ratio_postprocess"]:.1f}) | {c["sahi_array_s"]:.4f} '
                  f'(x{c["ratio_array"]:.1f}) | {c["kept_mmsniper"]} / {c["kept_sahi"]}',
                  flush=True)
        result['merger_cost'] = cost
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
