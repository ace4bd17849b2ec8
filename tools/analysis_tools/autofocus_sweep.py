"""AutoFocus on ScaleShapes: AP against pyramid pixels over a threshold sweep; see ``--help``."""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _bootstrap  # noqa: E402,F401  (checkout first on sys.path)


def _pair(text: str) -> tuple:
    try:
        a, b = (float(v) for v in text.split(','))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'expected T0,T1 (two thresholds), got {text!r}') from None
    if not (0 < a < 1 and 0 < b < 1):
        raise argparse.ArgumentTypeError(f'thresholds must be in (0, 1), got {text!r}')
    return a, b


def main() -> None:
    from scaleshapes_runs.autofocus import DEFAULT_SWEEP, results_markdown, run_sweep

    p = argparse.ArgumentParser(
        description='Train the ScaleShapes AutoFocus model (configs/scaleshapes/'
        'autofocus_faster_r18_scaleshapes.py) on the SNIPER experiment\'s schedule, then test '
        'it single-scale, with the full pyramid (tta_model.full_pyramid=True) and with '
        'AutoFocus at each pair of FocusPixel thresholds; report box AP, APs, the pyramid '
        'pixels processed relative to the full pyramid and seconds per image in '
        'OUT/results.{md,json,png}. Resumable: finished steps are skipped. Needs idle cores: '
        'about 30 minutes of training plus the test runs on 2 CPU cores. Run from the '
        'directory that holds data/scaleshapes (generated if missing).')
    p.add_argument('--out', default='work_dirs/autofocus_sweep', help='output directory')
    p.add_argument('--iters', type=int, default=1000, help='training iterations (default 1000)')
    p.add_argument('--seed', type=int, default=0, help='randomness.seed of the training')
    p.add_argument('--checkpoint', default=None,
                   help='test this AutoFocus checkpoint instead of training one')
    p.add_argument('--sweep', nargs='+', type=_pair, default=list(DEFAULT_SWEEP),
                   metavar='T0,T1', help='threshold pairs (coarsest -> middle, middle -> '
                   'finest); default: ' + ' '.join(f'{a:g},{b:g}' for a, b in DEFAULT_SWEEP))
    p.add_argument('--box-only', action='store_true',
                   help='also train and test the same recipe without the focus branch '
                   '(sniper_faster_r18_scaleshapes.py): does the branch cost box AP?')
    p.add_argument('--cfg-options', nargs='+', default=[],
                   help='key=value overrides passed to every train and test run')
    a = p.parse_args()
    res = run_sweep(a.out, iters=a.iters, seed=a.seed, sweep=a.sweep, checkpoint=a.checkpoint,
                    box_only=a.box_only, cfg_options=a.cfg_options)
    print('\n' + results_markdown(res))
    print(f'\n{res["seconds"] / 60:.1f} min; results in {a.out}/results.md, results.json, '
          'results.png')


if __name__ == '__main__':
    main()
