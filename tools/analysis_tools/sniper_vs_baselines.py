"""SNIPER vs. single-scale and full-pyramid training on ScaleShapes, on the CPU; see ``--help``."""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _bootstrap  # noqa: E402,F401  (checkout first on sys.path)


def main() -> None:
    from scaleshapes_runs.experiment import ARMS, DETECTORS, results_markdown, run_experiment

    p = argparse.ArgumentParser(
        description='Train the same light Faster R-CNN single-scale, on the full three-scale '
        'image pyramid, and with SNIPER chips, the same number of iterations and seed each; '
        'evaluate every checkpoint with the same SNIPER pyramid inference (tools/test.py '
        '--tta with the SNIPER config); report COCO AP/APs/APm/APl, training pixels and '
        'training time as OUT/results.{md,json,png}. Resumable: finished steps are skipped, '
        'interrupted trainings resume. Run from the directory that holds data/scaleshapes '
        '(generated if missing).')
    p.add_argument('--out', default='work_dirs/sniper_vs_baselines', help='output directory')
    p.add_argument('--iters', type=int, default=1000,
                   help='training iterations of every arm (default 1000: 54 minutes in all '
                   'on 2 idle CPU cores, measured; see docs/reports/scaleshapes.md)')
    p.add_argument('--seed', type=int, default=0, help='randomness.seed of every training')
    p.add_argument('--detector', default='faster_r18', choices=list(DETECTORS),
                   help='the detector every arm trains: faster_r18 (the half-width ResNet-18 '
                   'Faster R-CNN, from scratch; arms single_scale, pyramid, sniper), '
                   'retinanet_mnv2 / fcos_mnv2 (ImageNet MobileNetV2; arms single_scale, '
                   'sniper; docs/user_guides/one_stage_heads.md)')
    p.add_argument('--arms', nargs='+', default=None, choices=list(ARMS),
                   help="which trainings to run (default: all of the detector's)")
    p.add_argument('--single-scale-eval', action='store_true',
                   help='also evaluate each checkpoint at the single test scale (extra column '
                   'in results.json)')
    p.add_argument('--cfg-options', nargs='+', default=[],
                   help='key=value overrides passed to every train and test run')
    a = p.parse_args()
    res = run_experiment(a.out, iters=a.iters, seed=a.seed, arms=a.arms,
                         single_scale_eval=a.single_scale_eval,
                         cfg_options=a.cfg_options, detector=a.detector)
    print('\n' + results_markdown(res))
    print(f'\n{res["seconds"] / 60:.1f} min; results in {a.out}/results.md, results.json, '
          'results.png')


if __name__ == '__main__':
    main()
