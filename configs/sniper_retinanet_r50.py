# SNIPER, RetinaNet ResNet-50-FPN on COCO 2017 (data/coco/): 8 GPUs x 16 chips of 512x512.
#   mim train mmsniper configs/sniper_retinanet_r50.py --launcher pytorch --gpus 8
#   mim test mmsniper configs/sniper_retinanet_r50.py --checkpoint X --tta   # the pyramid
# The schedule and learning rate are SNIPER's (configs/_base_/sniper_schedule.py), not
# tuned for RetinaNet. ImageNet weights from torchvision (mmdet's RetinaNet piece).
_base_ = ['./_base_/sniper_retinanet.py', './_base_/sniper_one_stage.py']
