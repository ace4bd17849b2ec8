# The full image pyramid without valid ranges, light MobileNetV2 Faster R-CNN: every training
# image resized, whole, to one of SNIPER's three training scales drawn at random each time
# (so every box trains at every scale). The "full pyramid" arm of
# tools/analysis_tools/equal_compute.py; SNIP (snip_faster_mnv2_scaleshapes.py) adds the
# valid ranges to it.
_base_ = './faster_mnv2_scaleshapes.py'

# ../_base_/scaleshapes_sniper.py's sniper.scales as mmcv (long, short) keep-ratio sizes:
# (960, 1400) -> short 960, long <= 1400; (480, 800); (-1, 256) -> long side 256.
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomChoiceResize', scales=[(1400, 960), (800, 480), (256, 256)],
         keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
