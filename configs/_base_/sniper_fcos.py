# What SNIPER changes in FCOS (mmdet's FCOS R-50 with the "center-normbbox-centeronreg-giou"
# improvements, torchvision weights): the head. FCOSHead.get_targets never sees the chip's
# ignored boxes; SniperFCOSHead lets FCOS's own rule (inside the box or its centre region,
# at the level whose regression range fits it) pick the points each ignored box would own,
# and takes those out of the classification loss. docs/user_guides/one_stage_heads.md.
# Backbone and preprocessing are RetinaNet's (the same R-50); P3-P7 from the FPN's outputs.
_base_ = 'mmdet::_base_/models/retinanet_r50_fpn.py'

model = dict(
    type='FCOS',
    neck=dict(add_extra_convs='on_output', relu_before_extra_convs=True),
    bbox_head=dict(
        _delete_=True,
        type='SniperFCOSHead',
        num_classes=80,
        in_channels=256,
        stacked_convs=4,
        feat_channels=256,
        strides=[8, 16, 32, 64, 128],
        norm_on_bbox=True,
        centerness_on_reg=True,
        center_sampling=True,
        conv_bias=True,
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                      loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=1.0),
        loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    # FCOS has no assigner or sampler settings.
    train_cfg=None,
    test_cfg=dict(nms=dict(iou_threshold=0.6)))
