# A light RetinaNet for the CPU: torchvision's ImageNet MobileNetV2 (as in
# configs/scaleshapes/sniper_faster_mnv2_scaleshapes.py), FPN 64 on strides 8-32 plus two
# extra levels (P3-P7, mmdet's RetinaNet layout), a head of 2 convolutions of 64 channels
# instead of 4 of 256. SNIPER's one change to RetinaNet comes with ../sniper_retinanet.py
# (the ignore-aware assigner); the single-scale baseline trains the same model.
_base_ = '../sniper_retinanet.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='TorchvisionMobileNetV2',
        out_indices=(2, 4, 7),             # strides 8, 16, 32
        frozen_stages=2,
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://mobilenet_v2')),
    neck=dict(in_channels=[32, 96, 1280], out_channels=64, start_level=0, num_outs=5),
    bbox_head=dict(num_classes=6, in_channels=64, feat_channels=64, stacked_convs=2))
