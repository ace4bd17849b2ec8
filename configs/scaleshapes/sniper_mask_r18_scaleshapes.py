# SNIPER Mask R-CNN on ScaleShapes, on the CPU: the light R-18 model of
# ./sniper_faster_r18_scaleshapes.py (same data, `sniper` block and schedule) with a small
# mask branch. ScaleShapes annotations carry COCO polygons of each shape's visible part.
#   python tools/train.py configs/scaleshapes/sniper_mask_r18_scaleshapes.py
#   python tools/test.py configs/scaleshapes/sniper_mask_r18_scaleshapes.py CKPT --tta
_base_ = ['./sniper_faster_r18_scaleshapes.py']

model = dict(
    type='MaskRCNN',
    data_preprocessor=dict(pad_mask=True),
    roi_head=dict(
        # as mmdet's Mask R-CNN, narrowed like the box branch (64 FPN channels), 2 convs
        mask_roi_extractor=dict(
            type='SingleRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=2),
            out_channels=64, featmap_strides=[4, 8, 16, 32]),
        mask_head=dict(
            type='FCNMaskHead', num_convs=2, in_channels=64, conv_out_channels=64,
            num_classes=6,
            loss_mask=dict(type='CrossEntropyLoss', use_mask=True, loss_weight=1.0))),
    train_cfg=dict(rcnn=dict(mask_size=28)),
    test_cfg=dict(rcnn=dict(mask_thr_binary=0.5)))

# Masks stay polygons until ChipGenerator clips them to the chip (poly2mask=False: no
# full-image bitmaps; see configs/_base_/sniper_mask_rcnn.py and docs/user_guides/masks.md).
_train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=False),
    dict(type='ChipGenerator'),
    dict(type='RandomFlip', prob=0.5),
    _base_.train_pipeline[-1],  # PackDetInputs with SNIPER's meta keys (_base_/sniper_pipeline.py)
]
train_dataloader = dict(dataset=dict(dataset=dict(pipeline=_train_pipeline)))
val_evaluator = dict(metric=['bbox', 'segm'])
test_evaluator = val_evaluator
