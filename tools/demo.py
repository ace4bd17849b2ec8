"""SNIPER end to end on the CPU in about 11 minutes (``make demo``); see ``--help``."""
import argparse

import _bootstrap  # noqa: F401  (checkout first on sys.path)


def main() -> None:
    from scaleshapes_runs.demo import DEFAULT_ITERS, DEFAULT_RPN_ITERS, run_demo

    p = argparse.ArgumentParser(
        description='The mmsniper demo: generate the ScaleShapes data set if missing '
        '(data/scaleshapes, relative to the working directory), train an RPN and extract its '
        'proposals for negative chips, train SNIPER (Faster R-CNN on ImageNet MobileNetV2) '
        'on 256x256 chips at three scales, and evaluate it single-scale and with the image '
        'pyramid through CocoMetric. Leaves metrics.json, pictures of chips and of detections '
        'in --work-dir and prints a summary. Re-running skips finished steps and resumes an '
        'interrupted training.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--work-dir', default='work_dirs/demo', help='output directory')
    p.add_argument('--iters', type=int, default=DEFAULT_ITERS,
                   help='SNIPER training iterations (8 chips each)')
    p.add_argument('--rpn-iters', type=int, default=DEFAULT_RPN_ITERS,
                   help='RPN training iterations (negative-chip proposals)')
    p.add_argument('--skip-negatives', action='store_true',
                   help='train on positive chips only (no RPN, no proposals)')
    p.add_argument('--seed', type=int, default=0, help='randomness.seed of the trainings')
    p.add_argument('--chip-pictures', type=int, default=6,
                   help='number of training images drawn with their chips')
    p.add_argument('--cfg-options', nargs='+', default=[],
                   help='key=value overrides passed to every tool run')
    a = p.parse_args()
    run_demo(a.work_dir, iters=a.iters, rpn_iters=a.rpn_iters, negatives=not a.skip_negatives,
             seed=a.seed, num_chip_pictures=a.chip_pictures, cfg_options=a.cfg_options)


if __name__ == '__main__':
    main()
