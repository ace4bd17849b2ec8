# SNIPER, DINO-4scale ResNet-50 on COCO 2017 (data/coco/): 8 GPUs x 16 chips of 512x512.
#   mim train mmsniper configs/sniper_dino_r50.py --launcher pytorch --gpus 8
#   mim test mmsniper configs/sniper_dino_r50.py --checkpoint X --tta   # the pyramid
# DINO's optimizer (AdamW lr 1e-4, backbone x0.1, gradient clip 0.1; DETR-style learning
# rates are not scaled with the batch) on SNIPER's 7-epoch schedule. DINO's multi-scale
# resize and random crop are left out: SNIPER's chips replace them. ImageNet weights from
# torchvision.
_base_ = ['./_base_/sniper_dino.py', './_base_/sniper_one_stage.py']
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
