"""Let ``python tools/X.py`` use the checkout's mmsniper, not an older installed copy.

In a checkout, ``tools/`` sits beside ``mmsniper/``; installed under ``mmsniper/.mim/tools``
(where ``mim`` runs it) it does not, and the installed package is used.
"""
import os.path as osp
import sys

_root = osp.dirname(osp.dirname(osp.abspath(__file__)))
if osp.isfile(osp.join(_root, 'mmsniper', '__init__.py')) and _root not in sys.path:
    sys.path.insert(0, _root)
