# SNIPER on ScaleShapes with a light RetinaNet (ImageNet MobileNetV2, CPU): the chips, ranges,
# pyramid test and schedule of every ScaleShapes SNIPER config, the model of
# ../_base_/models/retinanet_mnv2_light.py. The SNIPER arm of the detector measurement
# (docs/user_guides/one_stage_heads.md; tools/analysis_tools/sniper_vs_baselines.py --detector retinanet_mnv2).
_base_ = ['../_base_/models/retinanet_mnv2_light.py', '../_base_/scaleshapes_sniper.py']
