"""Extract RPN proposals for SNIPER's negative chips; see ``--help``."""
import argparse

import _bootstrap  # noqa: F401  (checkout first on sys.path)

# isort: split
from mmengine.config import DictAction

from mmsniper.apis.proposals import extract_proposals


def main() -> None:
    p = argparse.ArgumentParser(
        description='Run a trained RPN (configs/sniper_rpn_*.py) over the training set at '
        'the test pyramid\'s scales and write the top proposals per image and scale, in '
        'ORIGINAL image coordinates, to one .npz file for negative chip mining. Resumable: '
        'finished chunks are kept in OUT.parts/ and skipped when run again. Several '
        'processes: tools/dist_test.sh-style, `python -m torch.distributed.run '
        '--nproc_per_node N tools/extract_proposals.py ... --launcher pytorch`.')
    p.add_argument('config', help='RPN config (its train_dataloader data set is processed)')
    p.add_argument('checkpoint', help='RPN checkpoint')
    p.add_argument('--out', required=True, help='output proposal file (.npz)')
    p.add_argument('--scales', nargs='+', type=float, default=None,
                   help='pyramid factors (default: sniper.test_scales of the config)')
    p.add_argument('--chunk', type=int, default=200, help='images per resumable chunk')
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    p.add_argument('--nms-pre', type=int, default=6000, help='RPN boxes before NMS (6000)')
    p.add_argument('--nms-iou', type=float, default=0.7, help='RPN NMS IoU (0.7)')
    p.add_argument('--max-per-scale', type=int, default=300, help='kept per scale (300)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='config overrides')
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none')
    p.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args()
    extract_proposals(a.config, a.checkpoint, a.out, scales=a.scales, chunk=a.chunk,
                      device=a.device, nms_pre=a.nms_pre, nms_iou=a.nms_iou,
                      max_per_scale=a.max_per_scale, cfg_options=a.cfg_options,
                      launcher=a.launcher)


if __name__ == '__main__':
    main()
