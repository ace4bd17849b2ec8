# SNIPER's training recipe (reference: SGD momentum 0.9, weight decay 1e-4, lr 0.015 for
# 128 chips per batch, 1000 warm-up iterations, step at 5.33 of 7 epochs, fp16).
# Iteration based: one COCO epoch of chips is about len(ChipSampler) / batch ~ 28k
# iterations of 16 chips (the training log prints the chip count every epoch).
_base_ = ['mmdet::_base_/schedules/schedule_1x.py', 'mmdet::_base_/default_runtime.py']

_iters_per_epoch = 28000
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop',
                 max_iters=7 * _iters_per_epoch, val_interval=_iters_per_epoch)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=7 * _iters_per_epoch,
         milestones=[int(5.33 * _iters_per_epoch)], gamma=0.1),
]
# lr 0.015 per 128 chips, scaled linearly: 16 chips per GPU x 8 GPUs = 128.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.015, momentum=0.9, weight_decay=1e-4),
    clip_grad=dict(max_norm=35, norm_type=2))
auto_scale_lr = dict(enable=False, base_batch_size=128)

# Training that survives the cluster (docs/user_guides/fault_tolerance.md): checkpoints
# written atomically with the random states for an exact resume; on SIGTERM / SIGUSR1 the
# iteration is finished, checkpointed, and the process exits with status 75; a NaN / inf
# loss stops training naming the batch's chips (nonfinite_loss.skip=True skips instead).
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=5000,
                    max_keep_ckpts=3),
    preemption=dict(type='PreemptionHook', signals=('SIGTERM', 'SIGUSR1')),
    nonfinite_loss=dict(type='NonFiniteLossHook', skip=False, max_skips_in_row=10))
log_processor = dict(by_epoch=False)
# Gives the chip sampler the run's seed and position after --resume.
custom_hooks = [dict(type='ChipSamplerHook')]
