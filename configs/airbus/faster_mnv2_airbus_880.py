# Single-scale baseline at the largest size the 10-minute budget trains: faster_mnv2_airbus.py
# (the light ImageNet MobileNetV2 Faster R-CNN, batches of 2, its optimiser and test settings)
# with whole 2560 x 2560 images resized to 880 x 880 (factor 0.344: aircraft 10-77 px,
# median 30 px). The "single_scale_880" arm of tools/analysis_tools/airbus_compare.py and its
# "single_880" test.
#
# Why 880, by the rule set before any result (docs/user_guides/airbus_aircraft.md): the largest
# of 2560, 2048, 1664, 1375, 1100, 880, 704 (x0.8 steps below the advisor's 1375) at which the
# budget still gives at least 4 passes over the 78 training images (156 iterations of 2). The
# measured training cost on this machine (12-20 iterations each, 2 cores, no GPU): 2048 about
# 31 s per iteration, 1100 about 4.2 s (146 iterations in 10 minutes: 3.7 epochs, too few),
# 704 about 1.6 s; 880 lies between (about 2.6 s: 5-6 epochs). At 25 minutes the same rule
# picks 1375. No result was looked at.
_base_ = './faster_mnv2_airbus.py'

_scale = (880, 880)
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
