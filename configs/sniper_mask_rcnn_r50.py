# SNIPER, Mask R-CNN ResNet-50-FPN on COCO 2017 (data/coco/).
_base_ = './sniper_mask_rcnn_r101.py'
model = dict(
    backbone=dict(depth=50,
                  init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')))
