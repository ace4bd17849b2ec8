# SNIPER Mask R-CNN (mmdet's Mask R-CNN R-50-FPN) with SNIPER's data and test pyramid: the
# piece another project's Mask R-CNN inherits (docs/user_guides/masks.md), e.g.
#   _base_ = ['mmsniper::_base_/sniper_mask_rcnn.py', 'mmsniper::_base_/sniper_schedule.py']
#   sniper = dict(...)                      # your scales, ranges, chip size
#   train_dataloader = dict(dataset=dict(dataset=dict(data_root=..., ann_file=...)))
# What SNIPER changes in the model is what it changes in Faster R-CNN
# (./sniper_faster_rcnn.py): ignore-aware assigners, and the R-CNN head -- box AND mask
# branch -- trains only on proposals in the chip level's valid range (SniperRoIHead).
_base_ = ['mmdet::_base_/models/mask-rcnn_r50_fpn.py', './sniper_tta.py']

model = dict(
    roi_head=dict(type='SniperRoIHead'),
    train_cfg=dict(
        rpn=dict(assigner=dict(type='SniperMaxIoUAssigner', ignore_iof_thr=0.3,
                               ignore_metric='iou')),
        rpn_proposal=dict(nms_pre=2000, max_per_img=1000),
        rcnn=dict(assigner=dict(type='SniperMaxIoUAssigner', ignore_iof_thr=0.5,
                                ignore_metric='iof'))),
    test_cfg=dict(rpn=dict(nms_pre=6000, max_per_img=300),
                  rcnn=dict(score_thr=0.001, max_per_img=200)))

# Masks go through ChipGenerator with the image: polygons are clipped to the chip, bitmaps
# cropped before resizing. poly2mask=False keeps COCO polygons as PolygonMasks: mmdet's
# default (True) rasterises every instance to a FULL-IMAGE bitmap when the image is loaded,
# before any chip is cut -- on a 10000 x 10000 image that is 100 MB per instance. (Crowd
# RLE masks are not loaded as masks then: crowd boxes are ignore regions anyway.)
_mask_train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=False),
    dict(type='ChipGenerator'),
    dict(type='RandomFlip', prob=0.5),
    _base_.train_pipeline[-1],  # PackDetInputs with SNIPER's meta keys (_base_/sniper_pipeline.py)
]
train_dataloader = dict(dataset=dict(dataset=dict(pipeline=_mask_train_pipeline)))
# Box and mask AP; the pyramid (--tta) returns each merged detection's mask too.
val_evaluator = dict(metric=['bbox', 'segm'])
test_evaluator = val_evaluator
