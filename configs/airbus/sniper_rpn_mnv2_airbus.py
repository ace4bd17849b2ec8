# Negative chip mining on the Airbus Aircraft data, step 1: the RPN of
# sniper_faster_mnv2_airbus.py alone on positive chips, then
#   python tools/extract_proposals.py configs/airbus/sniper_rpn_mnv2_airbus.py \
#       work_dirs/airbus_rpn/iter_300.pth --out work_dirs/airbus_rpn/proposals_train.npz
# (the ScaleShapes chain: ../scaleshapes/sniper_rpn_r18_scaleshapes.py, `make negatives`).
_base_ = './sniper_faster_mnv2_airbus.py'
model = dict(type='RPN', roi_head=None,
             train_cfg=dict(rcnn=None, rpn_proposal=None),
             test_cfg=dict(rcnn=None,
                           rpn=dict(nms_pre=6000, max_per_img=300,
                                    nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=0)))
_max_iters = 300
train_cfg = dict(max_iters=_max_iters, val_interval=_max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=_max_iters,
         milestones=[int(_max_iters * 0.8)], gamma=0.1),
]
val_evaluator = dict(metric='proposal', proposal_nums=(100, 300, 1000))
test_evaluator = val_evaluator
