# What SNIPER changes in ATSS (mmdet's atss_r50_fpn_1x_coco.py model): the assigner.
# SniperATSSAssigner assigns the valid boxes as ATSSAssigner does, then lets ATSS pick the
# anchors it would make positive for each ignored box: those leave the losses (mmdet's
# ATSSAssigner drops ignored boxes on a chip without valid ones). docs/user_guides/one_stage_heads.md.
# Backbone, neck and preprocessing are RetinaNet's (the same R-50-FPN, P3-P7).
_base_ = 'mmdet::_base_/models/retinanet_r50_fpn.py'

model = dict(
    type='ATSS',
    neck=dict(add_extra_convs='on_output'),
    bbox_head=dict(
        _delete_=True,
        type='ATSSHead',
        num_classes=80,
        in_channels=256,
        stacked_convs=4,
        feat_channels=256,
        anchor_generator=dict(type='AnchorGenerator', ratios=[1.0], octave_base_scale=8,
                              scales_per_octave=1, strides=[8, 16, 32, 64, 128]),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0],
                        target_stds=[0.1, 0.1, 0.2, 0.2]),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                      loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
        loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    train_cfg=dict(assigner=dict(_delete_=True, type='SniperATSSAssigner', topk=9)),
    test_cfg=dict(nms=dict(iou_threshold=0.6)))
