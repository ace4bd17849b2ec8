"""Test a detector with mmsniper (``--tta`` for the SNIPER pyramid); see ``--help``."""
import _bootstrap  # noqa: F401  (checkout first on sys.path)

# isort: split
from mmsniper.apis import test_cli

if __name__ == '__main__':
    test_cli()
