# Single-scale RetinaNet on ScaleShapes (whole images, short side 480): the same model as
# sniper_retinanet_mnv2_scaleshapes.py, the baseline arm of the detector measurement
# (docs/user_guides/one_stage_heads.md; tools/analysis_tools/sniper_vs_baselines.py --detector retinanet_mnv2).
_base_ = ['../_base_/models/retinanet_mnv2_light.py', '../_base_/scaleshapes_single_scale.py']
