# SNIPER, FCOS ResNet-50-FPN (centre sampling, GIoU, centerness on the regression branch)
# on COCO 2017 (data/coco/): 8 GPUs x 16 chips of 512x512.
#   mim train mmsniper configs/sniper_fcos_r50.py --launcher pytorch --gpus 8
#   mim test mmsniper configs/sniper_fcos_r50.py --checkpoint X --tta   # the pyramid
# The schedule and learning rate are SNIPER's (configs/_base_/sniper_schedule.py), not
# tuned for FCOS. ImageNet weights from torchvision.
_base_ = ['./_base_/sniper_fcos.py', './_base_/sniper_one_stage.py']
