"""Engine pieces: the chip sampler's hook, the safe checkpoint loader, the config prefix, and
training that survives the cluster (atomic checkpoints, exact resume, preemption,
non-finite losses; ``docs/user_guides/fault_tolerance.md``).

Importing this package (which ``import mmsniper`` does) changes three things in mmengine:

1. ALWAYS: every checkpoint scheme loads through :mod:`mmsniper.engine.checkpoint`, which
   runs no code from the file (there is deliberately no switch for this);
2. ALWAYS: what mmengine does with loaded checkpoints and ``.pkl`` data files is guarded
   (:mod:`mmsniper.engine.untrusted_state`: resume, inferencers, ``mmengine.load``), and the
   local file backend writes atomically (:mod:`mmsniper.engine.saving`: temporary file,
   fsync, rename), so no checkpoint mmengine saves is ever torn;
3. unless ``MMSNIPER_CONFIG_PREFIX=0`` is set: ``mmsniper::`` base configs resolve to the
   installed package's configs (:mod:`mmsniper.engine.configs`).
"""
import os

from .checkpoint import install_safe_checkpoint_loader
from .configs import allow_mmsniper_base_configs
from .hooks import ChipSamplerHook, TicketLogHook
from .nonfinite import NonFiniteLossError, NonFiniteLossHook
from .preemption import EXIT_PREEMPTED, PreemptionHook, TrainingPreempted
from .runner import SniperRunner
from .saving import (
    AtomicCheckpointHook,
    CheckpointLoadError,
    CheckpointSaveError,
    install_atomic_local_backend,
    resume_checkpoint,
)
from .untrusted_state import install_untrusted_input_guards

install_safe_checkpoint_loader()
install_untrusted_input_guards()
install_atomic_local_backend()
if os.environ.get('MMSNIPER_CONFIG_PREFIX', '1') != '0':
    allow_mmsniper_base_configs()

__all__ = ['install_safe_checkpoint_loader', 'install_untrusted_input_guards',
           'allow_mmsniper_base_configs', 'ChipSamplerHook', 'TicketLogHook',
           'SniperRunner', 'AtomicCheckpointHook', 'CheckpointSaveError', 'CheckpointLoadError',
           'install_atomic_local_backend', 'resume_checkpoint', 'PreemptionHook',
           'TrainingPreempted', 'EXIT_PREEMPTED', 'NonFiniteLossHook', 'NonFiniteLossError']
