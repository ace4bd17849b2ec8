# Single-scale baseline at the largest size the 25-minute budget trains: faster_mnv2_airbus.py
# (the light ImageNet MobileNetV2 Faster R-CNN, batches of 2, its optimiser and test settings)
# with whole 2560 x 2560 images resized to 1375 x 1375 (factor 0.537, the advisor's SNIPER
# scale: aircraft 16-121 px, median 47 px). The "single_scale_1375" arm of
# tools/analysis_tools/airbus_compare.py and its "single_1375" test.
#
# Why 1375: the rule of faster_mnv2_airbus_880.py (the largest of 2560, 2048, 1664, 1375, 1100,
# 880, 704 with at least 4 passes over the 78 training images in the budget) applied to
# 25 minutes, from the costs measured for the 10-minute choice (1100 about 4.2 s per
# iteration, so 1375 about 6.6 s: 5.8 epochs in 25 minutes; 1664 about 9.6 s: 4.0, too near
# the line to count on). Chosen before its first result. Measured in the 25-minute run:
# 11.9 s per iteration, 125 iterations, 3.2 epochs (docs/reports/airbus_aircraft.md): with
# that cost the rule gives 1100 for 25 minutes; this config stays as what ran.
_base_ = './faster_mnv2_airbus_880.py'

_scale = (1375, 1375)
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]))
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
