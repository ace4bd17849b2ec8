# Full image pyramid baseline on ScaleShapes: the single-scale model and schedule
# (faster_r18_scaleshapes.py), but every training image is resized to one of SNIPER's three
# training scales, drawn at random each time it is loaded. Over an epoch each image is thus
# seen, whole, at the finest, middle and coarsest scale alike: the "multi-scale training
# on the full pyramid" arm of tools/analysis_tools/sniper_vs_baselines.py, with no valid
# ranges and no chips (every box trains at every scale).
_base_ = './faster_r18_scaleshapes.py'

# sniper_faster_r18_scaleshapes.py's sniper.scales as mmcv (long, short) keep-ratio sizes:
# (960, 1400) -> short 960, long <= 1400; (480, 800); (-1, 256) -> long side 256.
_pyramid_scales = [(1400, 960), (800, 480), (256, 256)]
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomChoiceResize', scales=_pyramid_scales, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
