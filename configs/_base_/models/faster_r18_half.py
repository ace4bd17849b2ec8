# A light Faster R-CNN for the CPU: mmdet's ResNet-18 at half width (base_channels=32),
# FPN 64, a 256-wide box head, 128 sampled RoIs. Trains from scratch (no pretrained
# weights can be downloaded here): init_cfg=None. Built on SNIPER's two-stage changes
# (ignore-aware assigners, range-aware R-CNN head), which are exact no-ops on whole images
# without ignored boxes: the single-scale and pyramid baselines train the same model.
_base_ = '../sniper_faster_rcnn.py'

model = dict(
    # From scratch: every stage trains and BatchNorm learns its statistics (mmdet's
    # defaults, frozen stem + frozen BN, assume ImageNet weights).
    backbone=dict(depth=18, base_channels=32, init_cfg=None, frozen_stages=-1,
                  norm_eval=False),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=64),
    rpn_head=dict(in_channels=64, feat_channels=64),
    roi_head=dict(
        # sampling_ratio=2 instead of mmcv's adaptive 0: on the CPU, RoIAlign forward and
        # backward took a third of a SNIPER iteration (profile of 30 iterations of 8 chips,
        # docs/reports/scaleshapes.md, "The CPU recipe"); a fixed 2 x 2 samples per bin is detectron2's
        # choice too.
        bbox_roi_extractor=dict(out_channels=64, roi_layer=dict(sampling_ratio=2)),
        bbox_head=dict(in_channels=64, fc_out_channels=256, num_classes=6)),
    # The training proposals scaled to 256 x 256 chips (a quarter of the 512 chip: 2000 -> 500
    # before NMS, 1000 -> 300 after): the RPN's NMS over 2000 boxes per level was another
    # fifth of an iteration on the CPU.
    train_cfg=dict(rpn_proposal=dict(nms_pre=500, max_per_img=300),
                   rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300), rcnn=dict(max_per_img=100)))
