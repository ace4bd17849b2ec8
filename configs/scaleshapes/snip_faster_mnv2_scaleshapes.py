# SNIP (Singh and Davis, CVPR 2018) with the light MobileNetV2 Faster R-CNN: the full image
# pyramid WITH SNIPER's valid ranges, no chips. Each training image is resized, whole, to one
# of the `sniper` block's training scales drawn at random (SnipResize), and only the boxes
# in that scale's train range are trained on (the others are ignored, as in a SNIPER chip);
# the model is SNIPER's (ignore-aware assigners, range-aware R-CNN head). The "SNIP" arm of
# tools/analysis_tools/equal_compute.py: SNIPER claims to match it at a fraction of its cost.
_base_ = './sniper_faster_mnv2_scaleshapes.py'

_data_root = 'data/scaleshapes/'
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='SnipResize'),   # scales, train_ranges, min_size, min_visible: from `sniper`
    dict(type='RandomFlip', prob=0.5),
    _base_.train_pipeline[-1],  # PackDetInputs with SNIPER's meta keys (_base_/sniper_pipeline.py)
]
# Whole images, MMDetection's own dataset and sampler (as the single-scale and pyramid
# arms), batches of 2.
train_dataloader = dict(
    _delete_=True,
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type='CocoDataset',
        data_root=_data_root,
        metainfo=dict(classes=('circle', 'triangle', 'square', 'star', 'cross', 'ring')),
        ann_file='annotations/train.json',
        data_prefix=dict(img='images/train/'),
        filter_cfg=dict(filter_empty_gt=False),
        pipeline=train_pipeline))
auto_scale_lr = dict(base_batch_size=2)
