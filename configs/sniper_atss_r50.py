# SNIPER, ATSS ResNet-50-FPN on COCO 2017 (data/coco/): 8 GPUs x 16 chips of 512x512.
#   mim train mmsniper configs/sniper_atss_r50.py --launcher pytorch --gpus 8
#   mim test mmsniper configs/sniper_atss_r50.py --checkpoint X --tta   # the pyramid
# The schedule and learning rate are SNIPER's (configs/_base_/sniper_schedule.py), not
# tuned for ATSS. ImageNet weights from torchvision.
_base_ = ['./_base_/sniper_atss.py', './_base_/sniper_one_stage.py']
