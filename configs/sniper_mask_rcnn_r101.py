# SNIPER, Mask R-CNN ResNet-101-FPN on COCO 2017 (data/coco/): the reference's
# sniper_res101_e2e_mask setting as closely as MMDetection allows. 8 GPUs x 16 chips.
#   mim train mmsniper configs/sniper_mask_rcnn_r101.py --launcher pytorch --gpus 8
#   mim test mmsniper configs/sniper_mask_rcnn_r101.py --checkpoint X --tta   # the pyramid
# Deviations: as for configs/sniper_faster_r101.py (FPN, mmdet's RoIAlign, torchvision
# weights); masks: docs/user_guides/masks.md.
_base_ = [
    './_base_/sniper_mask_rcnn.py',  # model + data (sniper_pipeline.py) + test pyramid
    './_base_/sniper_schedule.py',
]
model = dict(
    backbone=dict(depth=101,
                  init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101')))
