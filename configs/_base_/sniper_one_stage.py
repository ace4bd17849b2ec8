# SNIPER for one-stage, anchor-free and DETR-style detectors: the same chips (data), test
# pyramid and schedule as the Faster R-CNN configs; a family piece brings the model
# (./sniper_retinanet.py, sniper_fcos.py, sniper_atss.py, sniper_rtmdet.py, sniper_yolox.py,
# sniper_dino.py; docs/user_guides/one_stage_heads.md says what each one changes and why). The pyramid test
# (--tta) works on any detector: each scale's detections are filtered by its test range and
# merged, as for the two-stage configs.
# Augmentations that rescale or mix samples (Mosaic, MixUp, RandomResize, RandomAffine,
# BatchSyncRandomResize) are left out of every SNIPER config: see docs/user_guides/one_stage_heads.md.
_base_ = ['./sniper_tta.py', './sniper_schedule.py']
