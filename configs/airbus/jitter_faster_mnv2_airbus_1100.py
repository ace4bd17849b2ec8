# MMDetection's multi-scale jitter and DetTTAModel at the single-scale size the 25-minute budget
# trains (faster_mnv2_airbus_1100.py): jitter_faster_mnv2_airbus.py's recipes scaled by the
# single test scale, COCO's 800 -> 1100 (x1.375), as jitter_faster_mnv2_airbus_880.py does
# for 880 (same schedule, optimiser and test settings):
# - training: RandomChoiceResize, short side 640, 672, ..., 800 -> 880, 924, 968, 1012, 1056,
#   1100;
# - test (--tta): DetTTAModel, scales 800, 400, 1200 -> 1100, 550, 1650, each with and without
#   flip, merged by NMS at IoU 0.5, 100 per image.
# The "jitter_1100" arm of tools/analysis_tools/airbus_compare.py and its "dettta_1100" test.
_base_ = './faster_mnv2_airbus_1100.py'  # its single-scale test (without --tta) too

_train_scales = [(s, s) for s in (880, 924, 968, 1012, 1056, 1100)]
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
_tta_scales = [(1100, 1100), (550, 550), (1650, 1650)]
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
