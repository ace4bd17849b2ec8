"""SNIPER against single-scale, MMDetection multi-scale jitter and SAHI on the Airbus Aircraft
satellite images, at equal calibrated training minutes; see ``--help``."""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _bootstrap  # noqa: E402,F401  (checkout first on sys.path)


def main() -> None:
    from airbus_runs.compare import (
        ARMS,
        DATA_ROOT,
        DEFAULT_ARMS,
        DEFAULT_CALIB_ITERS,
        DEFAULT_CURVE_POINTS,
        DEFAULT_MINUTES,
        DEFAULT_SEEDS,
        DEFAULT_SOURCE,
        DEFAULT_TESTS,
        MULTI_SEED_ARMS,
        TESTS,
        dry_run_text,
        results_markdown,
        run_compare,
        sahi_variants,
    )

    p = argparse.ArgumentParser(
        description='Train the light MobileNetV2 Faster R-CNN on the Airbus Aircraft training '
        'split six ways for the SAME calibrated training minutes: single-scale whole images, '
        'MMDetection multi-scale jitter, SAHI slice-based fine-tuning (sahi.slicing.slice_coco, '
        '512 px, overlap 0.2), SNIPER chips, SNIPER with negative chips (its RPN paid from its '
        'budget), AutoFocus. Every final model is tested every way that applies: single scale, '
        'DetTTAModel, SNIPER\'s ranged pyramid, AutoFocus (its own model), SAHI\'s '
        'get_sliced_prediction; AP, AP50, AP75, AP by size band (<64, 64-128, >128 px, full '
        'resolution), seconds per image, peak memory. Later seeds for ' + ', '.join(
            MULTI_SEED_ARMS) + '. Writes OUT/results.{md,json,png} and OUT/pictures/. '
        'Resumable, also in a later session. Converts the data when missing. Run from the '
        f'directory that holds {DATA_ROOT}; --dry-run prints the plan and its estimated time.')
    p.add_argument('--out', default='work_dirs/airbus_compare', help='output directory')
    p.add_argument('--minutes', type=float, default=DEFAULT_MINUTES,
                   help=f'training budget of every arm, minutes (default {DEFAULT_MINUTES:g})')
    p.add_argument('--arms', nargs='+', default=None, choices=list(ARMS),
                   help='which arms, in running order (default: ' + ' '.join(DEFAULT_ARMS)
                   + '; the 2048 MMDetection arms single_scale and jitter train one epoch in '
                   '10 minutes here, name them to run them)')
    p.add_argument('--seeds', nargs='+', type=int, default=list(DEFAULT_SEEDS),
                   help='seeds: the first trains every arm, the others '
                   + ', '.join(MULTI_SEED_ARMS) + ' (default: 0 1)')
    p.add_argument('--calib-iters', type=int, default=DEFAULT_CALIB_ITERS,
                   help=f'iterations of each calibration run (default {DEFAULT_CALIB_ITERS})')
    p.add_argument('--curve-points', type=int, default=DEFAULT_CURVE_POINTS,
                   help='checkpoints per run on the AP-vs-minutes curve (default '
                   f'{DEFAULT_CURVE_POINTS})')
    p.add_argument('--tests', nargs='+', default=None, choices=list(TESTS),
                   help='test ways run on the first seed\'s final models (default: '
                   + ' '.join(DEFAULT_TESTS) + ', those that apply; each arm\'s own test way '
                   'always runs); run again with more to add the missing tests to finished '
                   'models')
    p.add_argument('--iters', type=int, default=None,
                   help='train every arm this many iterations instead of calibrating to '
                   '--minutes: an equal-iterations control (default: calibrated minutes)')
    p.add_argument('--holdout', type=int, default=None, metavar='N',
                   help='train on the training split less N of its images (spread over the '
                   'image ids) and test on those N: for settings chosen by looking at results, '
                   'never on the validation split; not with the sahi arm (default: off)')
    p.add_argument('--data-root', default=DATA_ROOT,
                   help=f'the converted data (default {DATA_ROOT}, what the configs read)')
    p.add_argument('--source', default=DEFAULT_SOURCE,
                   help=f'the shared Airbus Aircraft folder, converted when --data-root has no '
                   f'annotations (default {DEFAULT_SOURCE})')
    p.add_argument('--pictures', type=int, default=4,
                   help='validation images drawn as ground truth | SNIPER | SAHI (default 4)')
    p.add_argument('--val-images', type=int, default=None,
                   help='test on the first N validation images only: a smoke run, not the '
                   'comparison (default: all 25)')
    p.add_argument('--cfg-options', nargs='+', default=[],
                   help='key=value overrides passed to every train and test run')
    p.add_argument('--sahi-variants', action='store_true',
                   help='after the runs, test the first seed\'s SAHI model with '
                   'SAHI\'s sliced prediction changed one setting at a time (its merger kept '
                   'at score 0.01, all its defaults incl. score 0.3, no whole-image '
                   'prediction); OUT/sahi_variants.md')
    p.add_argument('--dry-run', action='store_true',
                   help='print the plan and the estimated machine time, run nothing')
    a = p.parse_args()
    if a.dry_run:
        print(dry_run_text(a.arms, a.seeds, a.minutes, a.calib_iters, a.curve_points,
                           a.tests))
        return
    res = run_compare(a.out, minutes=a.minutes, arms=a.arms, seeds=a.seeds,
                      calib_iters=a.calib_iters, curve_points=a.curve_points,
                      data_root=a.data_root, source=a.source, cfg_options=a.cfg_options,
                      pictures=a.pictures, val_images=a.val_images, tests=a.tests,
                      iters=a.iters, holdout=a.holdout)
    print('\n' + results_markdown(res))
    if a.sahi_variants:
        val_ann = (osp.abspath(osp.join(a.out, f'val_first{a.val_images}.json'))
                   if a.val_images else None)  # as run_compare writes it
        print('\n' + sahi_variants(res, a.out, a.data_root, val_ann=val_ann))
    print(f'\n{res["seconds"] / 60:.1f} min; results in {a.out}/results.md, results.json, '
          'results.png, pictures/')


if __name__ == '__main__':
    main()
