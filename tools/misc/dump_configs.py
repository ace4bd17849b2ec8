"""Write every config under ``configs/`` resolved, as sorted JSON, to check a refactoring.

    python tools/misc/dump_configs.py OUT_DIR [--configs configs]

One file per config (``OUT_DIR/<path with / as __>.json``): ``Config.fromfile(p).to_dict()``
dumped with sorted keys. Run it before and after a change that should not change any
config, then ``diff -r BEFORE AFTER`` (no output: every resolved config is byte-identical).
"""
import argparse
import glob
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _bootstrap  # noqa: E402,F401  (checkout first on sys.path)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def dump_configs(out_dir: str, root: str = osp.join(REPO, 'configs')) -> list[str]:
    """Resolve every ``*.py`` under ``root`` (``_base_`` fragments included) into ``out_dir``.

    Returns:
        list[str]: the config paths, relative to ``root``, in the order written.
    """
    from mmengine.config import Config

    os.makedirs(out_dir, exist_ok=True)
    names = sorted(osp.relpath(p, root) for p in glob.glob(osp.join(root, '**', '*.py'),
                                                           recursive=True))
    for name in names:
        cfg = Config.fromfile(osp.join(root, name)).to_dict()
        text = json.dumps(cfg, sort_keys=True, indent=1, default=repr)
        with open(osp.join(out_dir, name.replace(os.sep, '__') + '.json'), 'w') as f:
            f.write(text + '\n')
    return names


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split('\n\n', 1)[1])
    p.add_argument('out_dir', help='folder for the JSON files (created)')
    p.add_argument('--configs', default=osp.join(REPO, 'configs'), help='configs folder')
    args = p.parse_args()
    names = dump_configs(args.out_dir, args.configs)
    print(f'{len(names)} configs resolved into {args.out_dir}')


if __name__ == '__main__':
    main()
