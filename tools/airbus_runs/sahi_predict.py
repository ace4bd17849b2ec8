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
    a = p.parse_args()
    rec = sliced_predictions(a.config, a.checkpoint, a.ann_file, a.img_dir, a.out, a.device)
    with open(a.out + '.timing.json', 'w') as f:
        json.dump(rec, f)
    print(f'{rec["images"]} images, {rec["detections"]} detections -> {a.out}; median '
          f'{rec["sec_per_img"]:.2f} s per image')


if __name__ == '__main__':
    main()
