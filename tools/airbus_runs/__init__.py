"""The driver of the Airbus Aircraft comparison (``tools/analysis_tools/airbus_compare.py``):
SNIPER against single-scale, MMDetection multi-scale jitter and SAHI on real satellite images.

Like :mod:`scaleshapes_runs`, whose experiment machinery it reuses, it runs the real tools in
subprocesses and finds ``configs/`` and ``tools/`` next to this folder, so it lives with the
tools, not in the library: it imports :mod:`mmsniper`, never the other way round.
"""
