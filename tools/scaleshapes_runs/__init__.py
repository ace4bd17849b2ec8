"""The drivers of the CPU demo (``tools/demo.py``) and of the SNIPER-vs-baselines experiment
(``tools/analysis_tools/sniper_vs_baselines.py``) on ScaleShapes.

They run the real tools in subprocesses and find ``configs/`` and ``tools/`` next to this
folder (a checkout, or an installed package's ``.mim``), so they live with the tools, not in
the library: they import :mod:`mmsniper`, never the other way round.
"""
