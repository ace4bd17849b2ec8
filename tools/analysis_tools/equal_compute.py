"""SNIPER against what MMDetection users run, at equal compute, on ScaleShapes; see ``--help``."""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _bootstrap  # noqa: E402,F401  (checkout first on sys.path)


def main() -> None:
    from scaleshapes_runs.equal_compute import (
        ARMS,
        DEFAULT_CALIB_ITERS,
        DEFAULT_CURVE_POINTS,
        DEFAULT_MINUTES,
        SECOND_SEED_ARMS,
        results_markdown,
        run_equal_compute,
    )

    p = argparse.ArgumentParser(
        description='Train the light MobileNetV2 Faster R-CNN six ways for the SAME training '
        'time (iterations from a calibrated seconds-per-iteration): single-scale, MMDetection '
        'multi-scale jitter, the full image pyramid without ranges, SNIP (pyramid + valid '
        'ranges), SNIPER chips, SNIPER with negative chips (its RPN paid from its budget); a '
        'second seed for SNIPER, SNIP and jitter. Every checkpoint along the way is tested with '
        'SNIPER\'s ranged pyramid (AP against training minutes); each final model also '
        'single-scale and with MMDetection\'s DetTTAModel. Writes OUT/results.{md,json,png}. '
        'Resumable, also in a later session: finished steps are skipped, interrupted trainings '
        'resume. The defaults take about 4-5 hours on 2 idle CPU cores: run it while nothing '
        'else uses them. Run from the directory that holds data/scaleshapes (generated if '
        'missing).')
    p.add_argument('--out', default='work_dirs/equal_compute', help='output directory')
    p.add_argument('--minutes', type=float, default=DEFAULT_MINUTES,
                   help=f'training budget of every arm, minutes (default {DEFAULT_MINUTES:g})')
    p.add_argument('--arms', nargs='+', default=None, choices=list(ARMS),
                   help='which arms (default: all, in this order: ' + ', '.join(ARMS) + ')')
    p.add_argument('--second-seed', nargs='*', default=list(SECOND_SEED_ARMS),
                   choices=list(ARMS), help='arms trained again with seed 1 (default: '
                   + ' '.join(SECOND_SEED_ARMS) + '; none: pass the flag alone)')
    p.add_argument('--calib-iters', type=int, default=DEFAULT_CALIB_ITERS,
                   help='iterations of each arm\'s calibration run (default '
                   f'{DEFAULT_CALIB_ITERS})')
    p.add_argument('--curve-points', type=int, default=DEFAULT_CURVE_POINTS,
                   help=f'checkpoints per run on the AP-vs-minutes curve (default '
                   f'{DEFAULT_CURVE_POINTS})')
    p.add_argument('--cfg-options', nargs='+', default=[],
                   help='key=value overrides passed to every train and test run')
    a = p.parse_args()
    res = run_equal_compute(a.out, minutes=a.minutes, arms=a.arms, second_seed=a.second_seed,
                            calib_iters=a.calib_iters, curve_points=a.curve_points,
                            cfg_options=a.cfg_options)
    print('\n' + results_markdown(res))
    print(f'\n{res["seconds"] / 60:.1f} min; results in {a.out}/results.md, results.json, '
          'results.png')


if __name__ == '__main__':
    main()
