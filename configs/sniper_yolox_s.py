# SNIPER, YOLOX-s on COCO 2017 (data/coco/): 8 GPUs x 16 chips of 512x512.
#   mim train mmsniper configs/sniper_yolox_s.py --launcher pytorch --gpus 8
#   mim test mmsniper configs/sniper_yolox_s.py --checkpoint X --tta   # the pyramid
# YOLOX's recipe without Mosaic / RandomAffine / MixUp / BatchSyncRandomResize and without
# YOLOXModeSwitchHook (docs/user_guides/one_stage_heads.md, "Mosaic and MixUp"): SNIPER's chips are the scale
# augmentation. Its optimizer (SGD nesterov, lr 0.01 per 64 images scaled to 128 chips,
# weight decay 5e-4) and EMA; SNIPER's 7-epoch schedule. Like mmdet's YOLOX, no pretrained
# weights: from scratch, 7 epochs of chips are far from YOLOX's 300 epochs.
_base_ = ['./_base_/sniper_yolox.py', './_base_/sniper_one_stage.py']
optim_wrapper = dict(
    optimizer=dict(lr=0.02, weight_decay=5e-4, nesterov=True),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))
custom_hooks = [
    dict(type='ChipSamplerHook'),
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0001, update_buffers=True,
         priority=49),
]
