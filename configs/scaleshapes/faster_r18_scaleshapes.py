# Single-scale baseline on ScaleShapes: the tiny Faster R-CNN that proves the whole stack
# (data pipeline, model, optimizer, CocoMetric evaluation) on the CPU, and the
# "single-scale" arm of tools/analysis_tools/sniper_vs_baselines.py.
_base_ = [
    '../_base_/models/faster_r18_half.py',
    '../_base_/scaleshapes_single_scale.py',
]
