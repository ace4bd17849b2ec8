# SNIPER inference: the image pyramid with per-scale valid ranges, merged by a
# registry-driven merger (docs/user_guides/inference.md). `tools/test.py CONFIG CKPT --tta` (or
# `mim test ... --tta`, or MMDetection's own tools/test.py --tta) and tools/infer.py use
# tta_model + tta_pipeline; without --tta the test pipeline stays single-scale.
_base_ = ['./sniper_pipeline.py']

tta_model = dict(
    type='SniperTTAModel',
    # Reference: Gaussian Soft-NMS, sigma 0.55, drop below 0.001; 200 detections per image.
    # Any merger registered in mmsniper.models.MERGERS: NMSMerger, SoftNMSMerger,
    # BoxVotingMerger(base=..., vote_threshold=0.8), or a project's own.
    merger=dict(type='SoftNMSMerger', method='gaussian', sigma=0.55, min_score=0.001),
    max_per_img=200,
    # Levels PyramidResize leaves whole-size (scaled image > max_pixels) run as a batched
    # grid of chip_size chips; overlap None: enough for the level's largest in-range object.
    chip_cfg=dict(chip_size=1024, overlap=None, batch_size=4, border_tol=2.0))

tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    # PyramidTestTimeAug: TestTimeAug whose views share the decoded image (no copy per level).
    dict(type='PyramidTestTimeAug',
         transforms=[
             # One view per level of sniper.test_scales: this PyramidResize without scale
             # is a template that SniperRunner turns into one view per level, each with its
             # scale and its sniper.test_ranges entry (the detections the view keeps). A
             # level whose scaled image exceeds max_pixels is cut into chips by
             # SniperTTAModel instead (COCO-sized images never reach it).
             [dict(type='PyramidResize', max_pixels=2048 * 2048)],
             # No flip (the reference). For flipped views too, use
             # [dict(type='RandomFlip', prob=1.), dict(type='RandomFlip', prob=0.)].
             [dict(type='RandomFlip', prob=0.)],
             [dict(type='LoadAnnotations', with_bbox=True)],
             # PackPyramidInputs: PackDetInputs that packs a chip-grid level as a view.
             [dict(type='PackPyramidInputs',
                   meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                              'scale_factor', 'flip', 'flip_direction', 'pyramid_level',
                              'pyramid_scale', 'pyramid_range', 'pyramid_chips'))],
         ]),
]
