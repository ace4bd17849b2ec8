# SNIPER, RTMDet-s on COCO 2017 (data/coco/): 8 GPUs x 16 chips of 512x512.
#   mim train mmsniper configs/sniper_rtmdet_s.py --launcher pytorch --gpus 8
#   mim test mmsniper configs/sniper_rtmdet_s.py --checkpoint X --tta   # the pyramid
# RTMDet's recipe without CachedMosaic / CachedMixUp / RandomResize (docs/user_guides/one_stage_heads.md,
# "Mosaic and MixUp"): SNIPER's chips are the scale augmentation. Its optimizer (AdamW,
# lr 0.004 per 256 images, scaled to 128 chips) and EMA; SNIPER's 7-epoch schedule.
_base_ = ['./_base_/sniper_rtmdet.py', './_base_/sniper_one_stage.py']
_weights = ('https://download.openmmlab.com/mmdetection/v3.0/rtmdet/cspnext_rsb_pretrain/'
            'cspnext-s_imagenet_600e.pth')
model = dict(
    backbone=dict(deepen_factor=0.33, widen_factor=0.5,
                  init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=_weights)),
    neck=dict(in_channels=[128, 256, 512], out_channels=128, num_csp_blocks=1),
    bbox_head=dict(in_channels=128, feat_channels=128, exp_on_reg=False))
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.002, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0, bias_decay_mult=0, bypass_duplicate=True))
custom_hooks = [
    dict(type='ChipSamplerHook'),
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0002, update_buffers=True,
         priority=49),
]
