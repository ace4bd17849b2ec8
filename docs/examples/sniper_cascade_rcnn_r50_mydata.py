# Another MMDetection project switching SNIPER on for its own detector and data set
# (README, "SNIPER for your own detector and data set"). Lives outside configs/: the
# `mmsniper::` prefix finds mmsniper's configs in the installed package.
_base_ = [
    'mmdet::_base_/models/cascade-rcnn_r50_fpn.py',
    'mmsniper::_base_/sniper_tta.py',       # SNIPER data (sniper_pipeline.py) + test pyramid
    'mmsniper::_base_/sniper_schedule.py',
]
model = dict(
    roi_head=dict(type='SniperCascadeRoIHead'),
    train_cfg=dict(rpn=dict(assigner=dict(type='SniperMaxIoUAssigner', ignore_iof_thr=0.3,
                                          ignore_metric='iou'))))
# your scales: one edit, training and the test pyramid both follow
sniper = dict(scales=[(1200, 2000), (600, 1000), (-1, 512)],
              train_ranges=[(-1, 64), (32, 160), (128, -1)])
# your data: change the wrapped dataset
train_dataloader = dict(dataset=dict(
    dataset=dict(data_root='data/mydata/', ann_file='annotations/train.json',
                 data_prefix=dict(img='train/'))))
# ... plus, as in any MMDetection config: metainfo classes and the heads' num_classes,
# val_dataloader / test_dataloader / val_evaluator for your data.
