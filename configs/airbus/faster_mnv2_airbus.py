# Single-scale baseline on the Airbus Aircraft sample: whole 2560 x 2560 images resized to
# 2048 x 2048 (factor 0.8: aircraft 23-180 px, median 68 px), batches of 2, the detector,
# optimiser and test settings of sniper_faster_mnv2_airbus.py (the light ImageNet MobileNetV2
# Faster R-CNN of the ScaleShapes equal-compute experiment, ../scaleshapes/faster_mnv2_scaleshapes.py
# with the data swapped). The "single_scale" arm of tools/analysis_tools/airbus_compare.py and its
# single-scale test (every arm's checkpoint is also tested with it: same architecture).
#
# Why 2048, "the largest size the budget allows" (docs/user_guides/airbus_aircraft.md, no
# result looked at): the largest of 2560, 2048, 1664, 1375 at which the 25-minute budget
# still gives at least 4 passes over the 78 training images, estimated from the calibrated
# cost of whole-image training with this detector on ScaleShapes (0.88 s per iteration of 2
# x 0.38 Mpx: about 1.15 s per Mpx): 1500 s / 1.15 s/Mpx = 1300 Mpx; one epoch at 2048 is
# 78 x 4.19 = 327 Mpx (4.0 epochs), at 2560 511 Mpx (2.5 epochs). The driver's calibration
# prints the real number of epochs (`--dry-run` the estimate).
_base_ = '../scaleshapes/faster_mnv2_scaleshapes.py'
_data_root = 'data/airbus_aircraft/'
_metainfo = dict(classes=('airplane', ))
_scale = (2048, 2048)

model = dict(roi_head=dict(bbox_head=dict(num_classes=1)))
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=2,
    dataset=dict(data_root=_data_root, metainfo=_metainfo, ann_file='annotations/train.json',
                 data_prefix=dict(img='images/'), filter_cfg=dict(filter_empty_gt=True),
                 pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(data_root=_data_root, metainfo=_metainfo, ann_file='annotations/val.json',
                 data_prefix=dict(img='images/'), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=_data_root + 'annotations/val.json')
test_evaluator = val_evaluator
