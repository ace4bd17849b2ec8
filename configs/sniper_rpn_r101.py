# Step 1 of negative chip mining: an RPN trained alone on SNIPER's positive chips for a
# short schedule (reference: 2 epochs). Then:
#   python tools/extract_proposals.py configs/sniper_rpn_r101.py RPN.pth --out data/coco/proposals_train2017.npz
# and train SNIPER with negatives (configs/sniper_faster_r101_neg.py).
_base_ = './sniper_faster_r101.py'

# The same backbone, neck and RPN head as the detector, without the R-CNN stage.
model = dict(type='RPN', roi_head=None,
             train_cfg=dict(rcnn=None, rpn_proposal=None),
             test_cfg=dict(rcnn=None,
                           rpn=dict(nms_pre=6000, max_per_img=300,
                                    nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=0)))
_iters_per_epoch = 28000
train_cfg = dict(max_iters=2 * _iters_per_epoch, val_interval=2 * _iters_per_epoch)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=2 * _iters_per_epoch,
         milestones=[int(1.5 * _iters_per_epoch)], gamma=0.1),
]
# An RPN is evaluated by proposal recall (COCO average recall), not by COCO AP.
val_evaluator = dict(metric='proposal', proposal_nums=(100, 300, 1000))
test_evaluator = val_evaluator
