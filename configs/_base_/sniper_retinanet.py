# What SNIPER changes in RetinaNet (mmdet's R-50-FPN): one line. RetinaHead already hands
# the chip's ignored boxes to its assigner; SniperMaxIoUAssigner makes them count, also on
# a chip with no valid box. An anchor whose IoU with an ignored box exceeds 0.4 -- one that
# would not be background for that box were it valid (RetinaNet's neg_iou_thr) -- is
# neither positive nor background (the reference's RPN rule, with RetinaNet's threshold).
# Positives of valid boxes are never taken away. docs/user_guides/one_stage_heads.md.
_base_ = 'mmdet::_base_/models/retinanet_r50_fpn.py'

model = dict(
    train_cfg=dict(assigner=dict(type='SniperMaxIoUAssigner', ignore_iof_thr=0.4,
                                 ignore_metric='iou')))
