# SNIPER on ScaleShapes with a light FCOS (ImageNet MobileNetV2, CPU): the chips, ranges,
# pyramid test and schedule of every ScaleShapes SNIPER config, the model of
# ../_base_/models/fcos_mnv2_light.py. The SNIPER arm of the detector measurement
# (docs/user_guides/one_stage_heads.md; tools/analysis_tools/sniper_vs_baselines.py --detector fcos_mnv2).
_base_ = ['../_base_/models/fcos_mnv2_light.py', '../_base_/scaleshapes_sniper.py']
