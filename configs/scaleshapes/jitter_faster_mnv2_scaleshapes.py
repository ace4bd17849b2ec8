# What an MMDetection user runs today for multi-scale: MMDetection's multi-scale-jitter
# training and its test-time augmentation (DetTTAModel), on the light MobileNetV2 Faster
# R-CNN. The "multi-scale jitter" arm of tools/analysis_tools/equal_compute.py.
#
# Both are MMDetection's own recipes scaled to ScaleShapes by its single test scale
# (COCO's (1333, 800) -> ScaleShapes' (800, 480): x0.6):
# - training: faster-rcnn_r50-caffe_fpn_ms-1x_coco.py's RandomChoiceResize, short side
#   640, 672, ..., 800 (long <= 1333) -> 384, 403, 422, 442, 461, 480 (long <= 800);
# - test (--tta): retinanet_tta.py's DetTTAModel, scales (1333, 800), (666, 400),
#   (2000, 1200) -> (800, 480), (400, 240), (1200, 720), each with and without flip,
#   merged by NMS at IoU 0.5, 100 detections per image.
_base_ = './faster_mnv2_scaleshapes.py'

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomChoiceResize',
         scales=[(800, 384), (800, 403), (800, 422), (800, 442), (800, 461), (800, 480)],
         keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

tta_model = dict(
    type='DetTTAModel',
    tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
_tta_scales = [(800, 480), (400, 240), (1200, 720)]
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='TestTimeAug',
         transforms=[
             [dict(type='Resize', scale=s, keep_ratio=True) for s in _tta_scales],
             [dict(type='RandomFlip', prob=1.), dict(type='RandomFlip', prob=0.)],
             [dict(type='LoadAnnotations', with_bbox=True)],
             [dict(type='PackDetInputs',
                   meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                              'scale_factor', 'flip', 'flip_direction'))],
         ]),
]
