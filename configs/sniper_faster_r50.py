# SNIPER, Faster R-CNN ResNet-50-FPN on COCO 2017 (paper: 43.5 AP with ImageNet weights).
_base_ = './sniper_faster_r101.py'
model = dict(
    backbone=dict(depth=50,
                  init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')))
