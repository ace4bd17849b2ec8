# SNIPER, Faster R-CNN ResNet-101-FPN on COCO 2017 (data/coco/), the paper's setting as
# closely as MMDetection allows. 8 GPUs x 16 chips of 512x512 (128 chips per batch).
#   mim train mmsniper configs/sniper_faster_r101.py --launcher pytorch --gpus 8
#   mim test mmsniper configs/sniper_faster_r101.py --checkpoint X --tta   # the pyramid
# Deviations from the reference, listed in README "Deviations": FPN (the paper used a
# C4 head), mmdet's RoIAlign, ImageNet weights from torchvision.
_base_ = [
    './_base_/sniper_faster_rcnn.py',
    './_base_/sniper_tta.py',        # data (sniper_pipeline.py) + test pyramid
    './_base_/sniper_schedule.py',
]
model = dict(
    backbone=dict(depth=101,
                  init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101')))
# fp16 as in the reference: `tools/train.py ... --amp` (AmpOptimWrapper, dynamic scaling).
