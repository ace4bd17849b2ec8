# SNIPER, Faster R-CNN ResNet-101-FPN on PASCAL VOC (data/VOCdevkit/): trained on VOC 2007 +
# 2012 trainval as chips, tested on VOC 2007 test with VOCMetric (mAP at IoU 0.5, 11 points,
# as mmdet's VOC configs). mmdet's VOCDataset; "difficult" objects are ignored boxes.
#   mim train mmsniper configs/sniper_faster_r101_voc.py --launcher pytorch --gpus 8
#   mim test mmsniper configs/sniper_faster_r101_voc.py --checkpoint X --tta   # the pyramid
# SNIPER's settings are the COCO ones (configs/_base_/sniper_settings.py): VOC images are
# COCO-sized (about 500 x 375). The reference's VOC values are not known here; for your own
# choice, tools/analysis_tools/advise_scales.py reads the training annotations.
_base_ = './sniper_faster_r101.py'

model = dict(roi_head=dict(bbox_head=dict(num_classes=20)))

_root = 'data/VOCdevkit/'
_part = dict(type='VOCDataset', data_root=_root,
             # images without boxes stay (negative chips), as in every SNIPER config
             filter_cfg=dict(filter_empty_gt=False),
             pipeline={{_base_.train_pipeline}}, backend_args=None)
train_dataloader = dict(dataset=dict(dataset=dict(
    _delete_=True,
    type='ConcatDataset',
    # the two parts' metainfo differ in dataset_type (VOC2007 / VOC2012) only
    ignore_keys=['dataset_type'],
    datasets=[
        dict(_part, ann_file='VOC2007/ImageSets/Main/trainval.txt',
             data_prefix=dict(sub_data_root='VOC2007/')),
        dict(_part, ann_file='VOC2012/ImageSets/Main/trainval.txt',
             data_prefix=dict(sub_data_root='VOC2012/')),
    ])))
val_dataloader = dict(dataset=dict(
    _delete_=True, type='VOCDataset', data_root=_root,
    ann_file='VOC2007/ImageSets/Main/test.txt', data_prefix=dict(sub_data_root='VOC2007/'),
    test_mode=True, pipeline={{_base_.test_pipeline}}, backend_args=None))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='VOCMetric', metric='mAP', eval_mode='11points')
test_evaluator = val_evaluator
