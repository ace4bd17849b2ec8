"""SNIPER Mask R-CNN against the box-only model on ScaleShapes; see ``--help``."""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _bootstrap  # noqa: E402,F401  (checkout first on sys.path)


def main() -> None:
    from scaleshapes_runs.masks import results_markdown, run_mask_vs_box

    p = argparse.ArgumentParser(
        description='Train the ScaleShapes SNIPER Mask R-CNN (configs/scaleshapes/'
        'sniper_mask_r18_scaleshapes.py) and the same recipe without masks '
        '(sniper_faster_r18_scaleshapes.py) on the SNIPER experiment\'s schedule; test both '
        'single-scale and with the image pyramid (--tta); report box and mask AP, training '
        'seconds per iteration and test seconds per image in OUT/results.{md,json}, and draw '
        'the mask model\'s pyramid detections with their masks. Resumable: finished steps '
        'are skipped. Needs idle cores: about 35 minutes on 2 CPU cores (15 less with '
        '--box-work-dir). Run from the directory that holds data/scaleshapes (generated if '
        'missing).')
    p.add_argument('--out', default='work_dirs/mask_vs_box', help='output directory')
    p.add_argument('--iters', type=int, default=1000,
                   help='training iterations of both models (default 1000, the experiment\'s '
                   'box arm)')
    p.add_argument('--seed', type=int, default=0, help='randomness.seed of both trainings')
    p.add_argument('--box-work-dir', default=None,
                   help='reuse this training of sniper_faster_r18_scaleshapes.py (same '
                   'iterations and seed), e.g. work_dirs/autofocus_sweep/train_box_only; '
                   'default: train it in OUT/train_box')
    p.add_argument('--cfg-options', nargs='+', default=[],
                   help='key=value overrides passed to every train and test run')
    a = p.parse_args()
    res = run_mask_vs_box(a.out, iters=a.iters, seed=a.seed, box_work_dir=a.box_work_dir,
                          cfg_options=a.cfg_options)
    print('\n' + results_markdown(res))
    print(f'\n{res["seconds"] / 60:.1f} min; results in {a.out}/results.md, results.json; '
          f'pictures under {res["pictures"]}')


if __name__ == '__main__':
    main()
