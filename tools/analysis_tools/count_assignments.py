"""Count positive, ignored and negative anchors and RoIs of SNIP, SNIPER and the full pyramid
on the same ScaleShapes images at the same levels.

    python tools/analysis_tools/count_assignments.py --images 20
    python tools/analysis_tools/count_assignments.py --images 20 --json counts.json \
        --arm snip=snip:configs/scaleshapes/snip_faster_mnv2_scaleshapes.py

See ``--help`` and docs/reports/snip_investigation.md.
"""
import argparse
import json
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/
import _bootstrap  # noqa: E402,F401  (checkout first on sys.path)

_CFG = 'configs/scaleshapes/'
DEFAULT_ARMS = (f'snip=snip:{_CFG}snip_faster_mnv2_scaleshapes.py',
                f'sniper=sniper:{_CFG}sniper_faster_mnv2_scaleshapes.py',
                f'pyramid=pyramid:{_CFG}pyramid_faster_mnv2_scaleshapes.py',
                f'single_scale=pyramid:{_CFG}faster_mnv2_scaleshapes.py')


def _arm(text: str) -> tuple:
    name, sep, rest = text.partition('=')
    kind, sep2, config = rest.partition(':')
    if not (sep and sep2 and name and config) or kind not in ('snip', 'sniper', 'pyramid'):
        raise argparse.ArgumentTypeError(
            f'expected NAME=KIND:CONFIG with KIND snip, sniper or pyramid (a whole-image '
            f'config with RandomChoiceResize or Resize), got {text!r}')
    return name, (kind, config)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description='Build each training arm\'s model from its config (random weights '
        'unless --checkpoint), prepare the same training images at every level of the '
        'arm (SNIP: SnipResize at each level; full pyramid: each scale of its '
        'RandomChoiceResize, or its one Resize for single-scale training; SNIPER: every '
        'positive chip the planner cuts at that level), '
        'and run the real RPN assigner and sampler on the anchors and the real range '
        'filter, R-CNN assigner and sampler on the RPN\'s training proposals. Prints, per '
        'arm and level, the valid and ignored ground truth, positive / ignored / negative '
        'anchors and proposals, the negatives lying on ignored boxes, what the samplers '
        'keep, and the same per training iteration. Needs data/scaleshapes (make data).')
    p.add_argument('--images', type=int, default=20,
                   help='the first N training images (default: %(default)s)')
    p.add_argument('--arm', action='append', type=_arm, metavar='NAME=KIND:CONFIG',
                   help='an arm (repeatable); default: ' + ', '.join(DEFAULT_ARMS))
    p.add_argument('--checkpoint', help='weights loaded into every arm (they share one '
                   'architecture); default: random weights')
    p.add_argument('--seed', type=int, default=0,
                   help='seed of the random weights and SNIPER\'s chip plan (default: '
                   '%(default)s)')
    p.add_argument('--gt-only', action='store_true',
                   help='count the valid and ignored ground truth only (no model; fast '
                   'enough for all images, e.g. --images 200)')
    p.add_argument('--json', help='also write the counts here')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmsniper.analysis.assignment_counts import count_assignments, format_counts

    arms = dict(args.arm or [_arm(a) for a in DEFAULT_ARMS])
    t0 = time.perf_counter()
    result = count_assignments(arms, range(args.images), args.checkpoint, args.seed,
                               gt_only=args.gt_only)
    print(format_counts(result, args.images))
    print(f'\n{time.perf_counter() - t0:.0f} s')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(command=' '.join(sys.argv), images=args.images, arms=result), f,
                      indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
