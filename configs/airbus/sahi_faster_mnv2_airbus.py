# SAHI's slice-based fine-tuning on the Airbus Aircraft sample: MMDetection's plain training
# (CocoDataset, no mmsniper sampler) on the slices `sahi.slicing.slice_coco` cuts from the
# training split, 512 x 512 with overlap 0.2 and SAHI's other defaults (min_area_ratio 0.1,
# negative slices kept). The light MobileNetV2 Faster R-CNN of faster_mnv2_airbus.py. The
# "sahi" arm of tools/analysis_tools/airbus_compare.py, which writes the slices to
#   data/airbus_aircraft/sahi_slices/train_512_02_coco.json (+ the slice images beside it)
# and tests with `sahi.predict.get_sliced_prediction` through sahi's MmdetDetectionModel,
# which reads this config's test pipeline (whole image or slice resized to 512: SAHI's
# standard prediction sees the 2560 image at 512). Batches of 8 slices: 2.1 Mpx per
# iteration, as SNIPER's 8 chips of 512.
_base_ = './faster_mnv2_airbus.py'
_slices = 'data/airbus_aircraft/sahi_slices/'
_scale = (512, 512)

train_dataloader = dict(
    batch_size=8,
    dataset=dict(data_root=_slices, ann_file='train_512_02_coco.json', data_prefix=dict(img=''),
                 filter_cfg=dict(filter_empty_gt=False),
                 pipeline=[
                     dict(type='LoadImageFromFile', backend_args=None),
                     dict(type='LoadAnnotations', with_bbox=True),
                     dict(type='Resize', scale=_scale, keep_ratio=True),
                     dict(type='RandomFlip', prob=0.5),
                     dict(type='PackDetInputs'),
                 ]))
_test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
val_dataloader = dict(dataset=dict(pipeline=_test_pipeline))
test_dataloader = val_dataloader
