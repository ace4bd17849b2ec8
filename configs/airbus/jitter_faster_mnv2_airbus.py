# MMDetection's multi-scale jitter and its test-time augmentation (DetTTAModel) on the Airbus
# Aircraft sample, the light MobileNetV2 Faster R-CNN of faster_mnv2_airbus.py. The "jitter"
# arm of tools/analysis_tools/airbus_compare.py (not among its defaults: at 2048 the 10-minute
# budget trains about one epoch; it trains jitter_faster_mnv2_airbus_880.py) and its DetTTAModel
# test (`--tta`).
#
# MMDetection's recipes scaled as on ScaleShapes (../scaleshapes/jitter_faster_mnv2_scaleshapes.py),
# by the single test scale: COCO's (1333, 800) -> this data's 2048 (square images: x2.56
# on the short side):
# - training: faster-rcnn_r50-caffe_fpn_ms-1x_coco.py's RandomChoiceResize, short side
#   640, 672, ..., 800 -> 1638, 1720, 1802, 1884, 1966, 2048;
# - test (--tta): retinanet_tta.py's DetTTAModel, scales 800, 400, 1200 (short side) ->
#   2048, 1024, 3072, each with and without flip, merged by NMS at IoU 0.5, 100 per image.
_base_ = './faster_mnv2_airbus.py'

_train_scales = [(s, s) for s in (1638, 1720, 1802, 1884, 1966, 2048)]
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomChoiceResize', scales=_train_scales, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]))
tta_model = dict(
    type='DetTTAModel',
    tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
_tta_scales = [(2048, 2048), (1024, 1024), (3072, 3072)]
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
