# SNIPER on ScaleShapes, on the CPU: the light Faster R-CNN, 256x256 chips, every SNIPER
# part switched on (positive chips, valid ranges, ignore-aware training, pyramid test).
# Also the worked example of switching SNIPER on for another data set: inherit the pieces,
# set `sniper` (the only place SNIPER values are written) and point the data at your set
# (../_base_/scaleshapes_sniper.py does both for ScaleShapes).
_base_ = [
    '../_base_/models/faster_r18_half.py',
    '../_base_/scaleshapes_sniper.py',
]
model = dict(test_cfg=dict(rpn=dict(nms_pre=1000, max_per_img=300),
                           rcnn=dict(score_thr=0.01, max_per_img=100)))
