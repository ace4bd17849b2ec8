# SNIPER inference: the image pyramid with per-scale valid ranges, merged by a
# registry-driven merger. `tools/test.py CONFIG CKPT --tta` (or `mim test ... --tta`) uses
# tta_model + tta_pipeline; without --tta the test pipeline stays single-scale.
_base_ = ['./sniper_pipeline.py']

tta_model = dict(
    type='SniperTTAModel',
    # Detections each pyramid level keeps, ORIGINAL pixels of sqrt(w*h), in the order of
    # the PyramidResize levels below. Reference: <= 90, (32, 180], > 75.
    test_ranges=_base_.sniper['test_ranges'],
    # Reference: Gaussian Soft-NMS, sigma 0.55, drop below 0.001; 200 detections per image.
    merger=dict(type='SoftNMSMerger', method='gaussian', sigma=0.55, min_score=0.001),
    max_per_img=200)

tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='TestTimeAug',
         transforms=[
             [dict(type='PyramidResize', scale=s, level=i)
              for i, s in enumerate(_base_.sniper['test_scales'])],
             [dict(type='LoadAnnotations', with_bbox=True)],
             [dict(type='PackDetInputs',
                   meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                              'scale_factor', 'flip', 'flip_direction', 'pyramid_level'))],
         ]),
]
