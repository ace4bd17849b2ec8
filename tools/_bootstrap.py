"""Prologue of every tool: the checkout's mmsniper first, and no warnings users cannot act on.

* ``python tools/X.py`` uses the checkout's mmsniper, not an older installed copy. In a
  checkout, ``tools/`` sits beside ``mmsniper/``; installed under ``mmsniper/.mim/tools``
  (where ``mim`` runs it) it does not, and the installed package is used.
* The pinned stack (mmengine, mmcv, mim) imports ``pkg_resources``, which setuptools 80
  deprecates with a warning at every start; that one message is silenced, nothing else.
"""
import os.path as osp
import sys
import warnings

warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning)

_root = osp.dirname(osp.dirname(osp.abspath(__file__)))
if osp.isfile(osp.join(_root, 'mmsniper', '__init__.py')) and _root not in sys.path:
    sys.path.insert(0, _root)
