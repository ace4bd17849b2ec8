# What SNIPER changes in a two-stage detector (here mmdet's Faster R-CNN R-50-FPN):
# ignored boxes count in both assigners (a chip whose boxes are all ignored does not teach
# them as background: SniperMaxIoUAssigner), and the R-CNN head trains only on proposals
# in the chip level's valid range (SniperRoIHead).
_base_ = 'mmdet::_base_/models/faster-rcnn_r50_fpn.py'

model = dict(
    roi_head=dict(type='SniperRoIHead'),
    train_cfg=dict(
        # Reference RPN: anchors with IoU > 0.3 with an invalid box are neither + nor -.
        rpn=dict(assigner=dict(type='SniperMaxIoUAssigner', ignore_iof_thr=0.3,
                               ignore_metric='iou')),
        rpn_proposal=dict(nms_pre=2000, max_per_img=1000),
        rcnn=dict(assigner=dict(type='SniperMaxIoUAssigner', ignore_iof_thr=0.5,
                                ignore_metric='iof'))),
    # Reference test: 300 proposals per scale, at most 200 detections per image after merging.
    test_cfg=dict(rpn=dict(nms_pre=6000, max_per_img=300),
                  rcnn=dict(score_thr=0.001, max_per_img=200)))
