# What SNIPER changes in RTMDet (the model of mmdet's rtmdet_l_8xb32-300e_coco.py): the
# assigner. DynamicSoftLabelAssigner never sees the chip's ignored boxes;
# SniperDynamicSoftLabelAssigner assigns the valid boxes as it does, then the ignored ones
# as if they were valid, and the priors those would get leave the losses.
# docs/user_guides/one_stage_heads.md. Sizes: ../sniper_rtmdet_s.py.
model = dict(
    type='RTMDet',
    # pad_size_divisor 32 (mmdet pads in the pipeline instead): the test pyramid's scaled
    # images have any size, and the PAFPN needs sides divisible by 32.
    data_preprocessor=dict(type='DetDataPreprocessor', mean=[103.53, 116.28, 123.675],
                           std=[57.375, 57.12, 58.395], bgr_to_rgb=False,
                           pad_size_divisor=32, batch_augments=None),
    backbone=dict(type='CSPNeXt', arch='P5', expand_ratio=0.5, deepen_factor=1,
                  widen_factor=1, channel_attention=True, norm_cfg=dict(type='SyncBN'),
                  act_cfg=dict(type='SiLU', inplace=True)),
    neck=dict(type='CSPNeXtPAFPN', in_channels=[256, 512, 1024], out_channels=256,
              num_csp_blocks=3, expand_ratio=0.5, norm_cfg=dict(type='SyncBN'),
              act_cfg=dict(type='SiLU', inplace=True)),
    bbox_head=dict(
        type='RTMDetSepBNHead',
        num_classes=80,
        in_channels=256,
        stacked_convs=2,
        feat_channels=256,
        anchor_generator=dict(type='MlvlPointGenerator', offset=0, strides=[8, 16, 32]),
        bbox_coder=dict(type='DistancePointBBoxCoder'),
        loss_cls=dict(type='QualityFocalLoss', use_sigmoid=True, beta=2.0, loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
        with_objectness=False,
        exp_on_reg=True,
        share_conv=True,
        pred_kernel_size=1,
        norm_cfg=dict(type='SyncBN'),
        act_cfg=dict(type='SiLU', inplace=True)),
    train_cfg=dict(assigner=dict(type='SniperDynamicSoftLabelAssigner', topk=13),
                   allowed_border=-1, pos_weight=-1, debug=False),
    test_cfg=dict(nms_pre=30000, min_bbox_size=0, score_thr=0.001,
                  nms=dict(type='nms', iou_threshold=0.65), max_per_img=300))
