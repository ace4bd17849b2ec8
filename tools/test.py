"""Test a detector with mmsniper (``--tta`` for the SNIPER pyramid); see ``--help``."""
from mmsniper.apis import test_cli

import _bootstrap  # noqa: F401  (checkout first on sys.path)

if __name__ == '__main__':
    test_cli()
