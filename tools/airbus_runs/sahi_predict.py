"""SAHI's sliced prediction over a COCO file's images, to COCO results (the Airbus
comparison's SAHI test way, run in its own process); see ``--help``."""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _bootstrap  # noqa: E402,F401  (checkout first on sys.path)


def main() -> None:
    from airbus_runs.sahi_arm import OVERLAP, SLICE_SIZE, sliced_predictions

    p = argparse.ArgumentParser(description='Run sahi.predict.get_sliced_prediction through '
                                'sahi\'s MmdetDetectionModel on every image of ANN_FILE '
                                f'({SLICE_SIZE} px slices, overlap {OVERLAP}, SAHI\'s other '
                                'defaults; the config\'s score threshold) and write COCO '
                                'results to OUT and timings to OUT.timing.json.')
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('ann_file')
    p.add_argument('img_dir')
    p.add_argument('out')
    p.add_argument('--device', default='cpu')
    p.add_argument('--no-standard-pred', action='store_true',
                   help='perform_standard_pred=False (SAHI\'s default: the whole image too)')
    p.add_argument('--postprocess-type', choices=['GREEDYNMM', 'NMM', 'NMS'],
                   help='SAHI\'s default: GREEDYNMM')
    p.add_argument('--match-metric', choices=['IOS', 'IOU'], help='SAHI\'s default: IOS')
    p.add_argument('--match-threshold', type=float, help='SAHI\'s default: 0.5')
    p.add_argument('--force-postprocess-type', action='store_true',
                   help='keep the merger even below score 0.1 (sahi switches to NMS / IOU '
                   'there by default)')
    p.add_argument('--score-thr', type=float,
                   help='the wrapper\'s confidence_threshold (default: the config\'s '
                   'score_thr; SAHI\'s own default is 0.3)')
    a = p.parse_args()
    opts = {k: v for k, v in dict(postprocess_type=a.postprocess_type,
                                  postprocess_match_metric=a.match_metric,
                                  postprocess_match_threshold=a.match_threshold).items()
            if v is not None}
    if a.no_standard_pred:
        opts['perform_standard_pred'] = False
    if a.force_postprocess_type:
        opts['force_postprocess_type'] = True
    rec = sliced_predictions(a.config, a.checkpoint, a.ann_file, a.img_dir, a.out, a.device,
                             score_thr=a.score_thr, **opts)
    with open(a.out + '.timing.json', 'w') as f:
        json.dump(rec, f)
    print(f'{rec["images"]} images, {rec["detections"]} detections -> {a.out}; median '
          f'{rec["sec_per_img"]:.2f} s per image')


if __name__ == '__main__':
    main()
