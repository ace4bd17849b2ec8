# Single-scale training on ScaleShapes, on the CPU, for any detector: whole images at one
# scale (short side 480, long 800), batches of 2, the same AdamW schedule as the SNIPER piece
# (./scaleshapes_sniper.py). The "single-scale" arm of tools/analysis_tools/sniper_vs_baselines.py
# adds a model piece: ../scaleshapes/faster_r18_scaleshapes.py, retinanet_mnv2_scaleshapes.py,
# fcos_mnv2_scaleshapes.py.
_base_ = [
    './datasets/scaleshapes_detection.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmsniper'], allow_failed_imports=False)

train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=2000, val_interval=1000)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=2000, milestones=[1500], gamma=0.1),
]
# The optimizer of the SNIPER config (AdamW, see sniper_faster_r18_scaleshapes.py).
optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
                     clip_grad=dict(max_norm=35, norm_type=2))
# Atomic checkpoints, preemption and non-finite losses as in ./sniper_schedule.py.
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=500,
                    max_keep_ckpts=2),
    preemption=dict(type='PreemptionHook'),
    nonfinite_loss=dict(type='NonFiniteLossHook'))
log_processor = dict(by_epoch=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
auto_scale_lr = dict(base_batch_size=2)
