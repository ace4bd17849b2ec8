"""Engine pieces: the chip sampler's hook and the torch >= 2.6 checkpoint fix."""
from .checkpoint import allow_mmengine_checkpoints
from .hooks import ChipSamplerHook

allow_mmengine_checkpoints()

__all__ = ['allow_mmengine_checkpoints', 'ChipSamplerHook']
