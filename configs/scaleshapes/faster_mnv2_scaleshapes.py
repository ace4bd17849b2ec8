# Single-scale baseline with the light MobileNetV2 Faster R-CNN: whole images at one scale
# (short side 480, long 800), batches of 2, the SNIPER configs' AdamW schedule. The
# "single-scale" arm of tools/analysis_tools/equal_compute.py and its single-scale test
# (every arm's checkpoint is also tested with it: same architecture).
_base_ = [
    '../_base_/models/faster_mnv2_light.py',
    '../_base_/scaleshapes_single_scale.py',
]
# The test settings of sniper_faster_mnv2_scaleshapes.py: every test of every arm alike.
model = dict(test_cfg=dict(rpn=dict(nms_pre=1000, max_per_img=300),
                           rcnn=dict(score_thr=0.01, max_per_img=100)))
visualizer = dict(type='SniperDetVisualizer')
# The runner of the SNIPER arms (no `sniper` block here: it only formats the config once;
# mmengine's Runner re-formats it at every checkpoint, 2.2 s logged as iteration time).
runner_type = 'SniperRunner'
