# SNIPER training data on COCO 2017 (data/coco/): chips instead of whole images. The SNIPER
# values (scales, ranges, chip size, ...) are not written here: they come from `sniper`
# (./sniper_settings.py) when the runner is built.
_base_ = ['mmdet::_base_/datasets/coco_detection.py', './sniper_settings.py']

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    # Cut the ticket's chip from the ORIGINAL image, resize by its scale, pad to chip_size;
    # boxes outside the level's range (or cut to slivers) become ignored, never deleted.
    dict(type='ChipGenerator'),
    dict(type='RandomFlip', prob=0.5),
    # SNIPER's meta keys, written here once: every SNIPER training pipeline ends with this
    # step (children take it as `_base_.train_pipeline[-1]`).
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'pad_shape',
                    'scale_factor', 'flip', 'flip_direction', 'chip', 'chip_level',
                    'chip_scale', 'chip_kind', 'chip_valid_range')),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(_delete_=True, type='ChipSampler', shuffle=True),
    # All chips are chip_size squares: no aspect-ratio grouping.
    batch_sampler=None,
    dataset=dict(
        _delete_=True,
        type='SniperDataset',
        dataset=dict(
            type='CocoDataset',
            data_root='data/coco/',
            ann_file='annotations/instances_train2017.json',
            data_prefix=dict(img='train2017/'),
            # Images without boxes stay: they give negative chips when those are on.
            filter_cfg=dict(filter_empty_gt=False),
            pipeline=train_pipeline,
            backend_args=None)))
