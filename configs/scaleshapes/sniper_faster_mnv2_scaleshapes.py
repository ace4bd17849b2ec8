# SNIPER on ScaleShapes with an ImageNet-initialised MobileNetV2 (torchvision's weights, from
# the offline package `make setup` installs): the light CPU model of
# sniper_faster_r18_scaleshapes.py with the half-width ResNet-18 (trained from scratch)
# swapped for MobileNetV2 (../_base_/models/faster_mnv2_light.py). FPN, RPN and box head
# stay as light as the ResNet-18's. The demo's detector; the SNIPER arm of
# tools/analysis_tools/equal_compute.py.
_base_ = [
    '../_base_/models/faster_mnv2_light.py',
    '../_base_/scaleshapes_sniper.py',
]
model = dict(test_cfg=dict(rpn=dict(nms_pre=1000, max_per_img=300),
                           rcnn=dict(score_thr=0.01, max_per_img=100)))
