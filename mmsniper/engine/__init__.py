"""Engine pieces: the chip sampler's hook and the torch >= 2.6 checkpoint fix."""
from .checkpoint import allow_mmengine_checkpoints
from .configs import allow_mmsniper_base_configs
from .hooks import ChipSamplerHook

allow_mmengine_checkpoints()
allow_mmsniper_base_configs()

__all__ = ['allow_mmengine_checkpoints', 'allow_mmsniper_base_configs', 'ChipSamplerHook']
