# MMDetection's multi-scale jitter and DetTTAModel at the single-scale size the 10-minute budget
# trains (faster_mnv2_airbus_880.py): jitter_faster_mnv2_airbus.py's recipes scaled by the
# single test scale, COCO's 800 -> 880 (x1.1):
# - training: RandomChoiceResize, short side 640, 672, ..., 800 -> 704, 739, 774, 810, 845, 880;
# - test (--tta): DetTTAModel, scales 800, 400, 1200 -> 880, 440, 1320, each with and without
#   flip, merged by NMS at IoU 0.5, 100 per image.
# The "jitter_880" arm of tools/analysis_tools/airbus_compare.py and its "dettta_880" test.
_base_ = './faster_mnv2_airbus_880.py'

_train_scales = [(s, s) for s in (704, 739, 774, 810, 845, 880)]
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
_tta_scales = [(880, 880), (440, 440), (1320, 1320)]
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
