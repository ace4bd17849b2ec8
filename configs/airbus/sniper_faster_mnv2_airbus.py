# SNIPER on the Airbus Aircraft sample (103 Pleiades images, 2560 x 2560, one class) with the
# ImageNet MobileNetV2 Faster R-CNN of the ScaleShapes equal-compute experiment
# (../scaleshapes/sniper_faster_mnv2_scaleshapes.py): the same model, schedule shape and
# test, with the data and the `sniper` block swapped. Data: make it once with
#   python tools/dataset_converters/airbus_aircraft.py ../shared/data/airbus-aircraft
# (data/airbus_aircraft/annotations/{train,val}.json; data/airbus_aircraft/images links to
# the shared images, never copied). How each value below was chosen:
# docs/user_guides/airbus_aircraft.md.
_base_ = '../scaleshapes/sniper_faster_mnv2_scaleshapes.py'
_data_root = 'data/airbus_aircraft/'
_metainfo = dict(classes=('airplane', ))

# tools/analysis_tools/advise_scales.py data/airbus_aircraft/annotations/train.json, its
# defaults (band 32-160, chip 512, stride chip // 16), output pasted unchanged: ONE level at
# factor 0.537 (2560 -> 1375), every object trained there (train split: 29-225 px, 12.5 %
# below the band's 32 px after scaling).
sniper = dict(
    scales=[(1375, 1375)],
    train_ranges=[(-1, -1)],
    chip_size=512,
    stride=32,
    test_scales=[(1375, 1375)],
    test_ranges=[(-1, -1)],
)
model = dict(roi_head=dict(bbox_head=dict(num_classes=1)))
train_dataloader = dict(
    dataset=dict(
        single_scale=(1375, 1375),   # pixel counts in the log compared with this scale
        dataset=dict(data_root=_data_root, metainfo=_metainfo,
                     ann_file='annotations/train.json', data_prefix=dict(img='images/'))))
# Single-scale test at the advisor's scale (the pyramid test, --tta, has the same one level).
_test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=(1375, 1375), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
val_dataloader = dict(
    dataset=dict(data_root=_data_root, metainfo=_metainfo, ann_file='annotations/val.json',
                 data_prefix=dict(img='images/'), pipeline=_test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=_data_root + 'annotations/val.json')
test_evaluator = val_evaluator
