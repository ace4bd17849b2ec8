# SNIPER on ScaleShapes with an ImageNet-initialised MobileNetV2 (torchvision's weights, from
# the offline package `make setup` installs): the light CPU model of
# sniper_faster_r18_scaleshapes.py with the half-width ResNet-18 (trained from scratch)
# swapped for MobileNetV2. FPN, RPN and box head stay as light as the ResNet-18's.
_base_ = './sniper_faster_r18_scaleshapes.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='TorchvisionMobileNetV2',
        out_indices=(1, 2, 4, 7),          # strides 4, 8, 16, 32
        # conv1 and the stride-2/4 stages frozen: 1.22 -> 0.87 s per training iteration on
        # 2 CPU cores (tools/analysis_tools/benchmark_train_step.py, docs/demo.md).
        frozen_stages=2,
        norm_eval=True,                    # 8 chips per batch: keep ImageNet statistics
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://mobilenet_v2')),
    neck=dict(in_channels=[24, 32, 96, 1280]))
