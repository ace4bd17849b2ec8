# The light CPU Faster R-CNN with an ImageNet-initialised MobileNetV2 (torchvision's weights,
# from the offline package `make setup` installs): faster_r18_half.py's FPN, RPN and box head
# on MobileNetV2 instead of the half-width ResNet-18 trained from scratch. The demo's
# detector and every arm of tools/analysis_tools/equal_compute.py (docs/reports/scaleshapes.md,
# docs/reports/equal_compute.md). Built on SNIPER's two-stage changes, exact no-ops on whole images
# without ignored boxes: single-scale, jitter and pyramid arms train the same model.
_base_ = './faster_r18_half.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='TorchvisionMobileNetV2',
        out_indices=(1, 2, 4, 7),          # strides 4, 8, 16, 32
        # conv1 and the stride-2/4 stages frozen: 1.22 -> 0.87 s per training iteration on
        # 2 CPU cores (tools/analysis_tools/benchmark_train_step.py, docs/reports/scaleshapes.md).
        frozen_stages=2,
        norm_eval=True,                    # small batches: keep ImageNet statistics
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://mobilenet_v2')),
    neck=dict(in_channels=[24, 32, 96, 1280]))
