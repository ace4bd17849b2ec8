"""Train a detector with mmsniper; see ``python tools/train.py --help``."""
from mmsniper.apis import train_cli

import _bootstrap  # noqa: F401  (checkout first on sys.path)

if __name__ == '__main__':
    train_cli()
