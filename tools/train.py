"""Train a detector with mmsniper; see ``python tools/train.py --help``."""
import _bootstrap  # noqa: F401  (checkout first on sys.path)

# isort: split
from mmsniper.apis import train_cli

if __name__ == '__main__':
    train_cli()
