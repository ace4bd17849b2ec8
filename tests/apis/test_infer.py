"""tools/infer.py and mmsniper.apis.inference on a real (randomly initialised) model.

Per-image results written as they are done, resume, unreadable image files (skipped and
counted, or --strict), the refusal of checkpoints of another model, class names from the
config. The tiny Faster R-CNN of configs/scaleshapes/ runs single-scale at 256 x 160 on
three ScaleShapes images; the pyramid itself is tested in tests/models/test_tta.py.
"""
from __future__ import annotations

import copy
import functools
import json
import os
import os.path as osp
import shutil
import subprocess

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

from mmsniper.apis import inference
from mmsniper.apis.inference import (
    CheckpointMismatchError,
    OutputConflictError,
    check_weights_fit,
    infer,
    init_inference_model,
)

from conftest import _ENV, REPO, run_tool, tool

CONFIG = osp.join(REPO, 'configs', 'scaleshapes', 'sniper_faster_r18_scaleshapes.py')
RPN_CONFIG = osp.join(REPO, 'configs', 'scaleshapes', 'sniper_rpn_r18_scaleshapes.py')
CLASSES = ('circle', 'triangle', 'square', 'star', 'cross', 'ring')
# Single scale, 256 x 160 at most: an image takes a fraction of a second on the CPU.
SMALL = {'test_dataloader.dataset.pipeline.1.scale': (256, 160)}
SMALL_ARGS = ['--no-tta', '--cfg-options', 'test_dataloader.dataset.pipeline.1.scale=(256,160)']


def _save(model: torch.nn.Module, path, classes) -> str:
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': {'classes': tuple(classes)}}}, str(path))
    return str(path)


@functools.lru_cache(maxsize=None)
def _cfg(config: str) -> Config:
    """The parsed config (parsing resolves mmdet:: bases: seconds), to be deep-copied."""
    return Config.fromfile(config)


def _detector(config: str, **cfg_options) -> torch.nn.Module:
    cfg = copy.deepcopy(_cfg(config))
    cfg.merge_from_dict(cfg_options)
    init_default_scope('mmdet')
    cfg.model.backbone.init_cfg = None
    return MODELS.build(cfg.model)


@pytest.fixture(scope='module')
def ckpts(tmp_path_factory) -> dict:
    """Checkpoints (and the models saved in them): the config's model, the same with 3
    classes, the RPN-only model, and the config's model with another data set's 6 names."""
    d = tmp_path_factory.mktemp('ckpts')
    genuine, rpn = _detector(CONFIG), _detector(RPN_CONFIG)
    return dict(
        genuine=_save(genuine, d / 'genuine.pth', CLASSES), genuine_model=genuine,
        renamed=_save(genuine, d / 'renamed.pth', [f'c{i}' for i in range(6)]),
        three=_save(_detector(CONFIG, **{'model.roi_head.bbox_head.num_classes': 3}),
                    d / 'three.pth', ('a', 'b', 'c')),
        rpn=_save(rpn, d / 'rpn.pth', CLASSES), rpn_model=rpn)


@pytest.fixture(scope='module')
def image_dir(tmp_path_factory, scaleshapes_root) -> str:
    """a.jpg, b_broken.jpg (not an image), c.jpg, d.jpg: ScaleShapes val images."""
    d = tmp_path_factory.mktemp('images')
    val = osp.join(scaleshapes_root, 'images', 'val')
    for name, src in zip('acd', sorted(os.listdir(val))):
        shutil.copy(osp.join(val, src), d / f'{name}.jpg')
    (d / 'b_broken.jpg').write_bytes(b'these bytes are no JPEG')
    return str(d)


@pytest.mark.slow
def test_tool_writes_per_image_skips_unreadable_resumes_and_strict_stops(tmp_path, image_dir,
                                                                          ckpts):
    out = tmp_path / 'out'
    args = tool('infer.py') + [CONFIG, ckpts['genuine'], image_dir, '--out', str(out)]
    # --strict: a.jpg is done and kept, the run stops at b_broken.jpg naming it.
    strict = subprocess.run(args + SMALL_ARGS + ['--strict'], cwd=str(tmp_path), env=_ENV,
                            capture_output=True, text=True, timeout=600)
    assert strict.returncode == 1, strict.stdout[-3000:] + strict.stderr[-3000:]
    assert 'b_broken.jpg cannot be read' in strict.stderr
    assert sorted(os.listdir(out / 'preds')) == ['a.json']
    assert not (out / 'detections.json').exists()
    a_written = os.stat(out / 'preds' / 'a.json').st_mtime_ns

    # Without --strict the rerun resumes a.jpg, skips b_broken.jpg and runs c and d.
    proc = run_tool(args + SMALL_ARGS, cwd=str(tmp_path))
    assert '2 done, 1 skipped (resumed), 1 unreadable' in proc.stdout
    assert 'b_broken.jpg' in proc.stdout
    assert os.stat(out / 'preds' / 'a.json').st_mtime_ns == a_written
    assert sorted(os.listdir(out / 'preds')) == ['a.json', 'c.json', 'd.json']
    assert sorted(os.listdir(out / 'vis')) == ['a.jpg', 'c.jpg', 'd.jpg']
    with open(out / 'preds' / 'c.json') as f:
        pred = json.load(f)
    assert pred['img_path'] == osp.join(image_dir, 'c.jpg')
    k = len(pred['scores'])
    assert k > 0 and len(pred['labels']) == k and len(pred['bboxes']) == k
    assert all(len(b) == 4 and b[0] <= b[2] and b[1] <= b[3] for b in pred['bboxes'])
    with open(out / 'detections.json') as f:
        coco = json.load(f)
    assert [(im['id'], im['file_name']) for im in coco['images']] == [
        (0, osp.join(image_dir, 'a.jpg')), (2, osp.join(image_dir, 'c.jpg')),
        (3, osp.join(image_dir, 'd.jpg'))]
    assert [c['name'] for c in coco['categories']] == list(CLASSES)
    in_c = [a for a in coco['annotations'] if a['image_id'] == 2]
    assert len(in_c) == sum(s >= 0.3 for s in pred['scores'])


def test_checkpoint_of_another_model_is_refused_naming_weights(ckpts):
    with pytest.raises(CheckpointMismatchError,
                       match=r'roi_head\.bbox_head\.fc_cls\.weight: checkpoint \(4, \d+\), '
                             r'model \(7, \d+\).*trained on 3 classes'):
        init_inference_model(_cfg(CONFIG), ckpts['three'], tta=False)
    faster, rpn = ckpts['genuine_model'], ckpts['rpn_model']
    with pytest.raises(CheckpointMismatchError,
                       match=r'weights missing from the checkpoint \(rpn_head\..*'
                             r'the model does not have \(bbox_head\.'):
        check_weights_fit(faster, rpn.state_dict())
    with pytest.raises(CheckpointMismatchError, match=r'does not have \(rpn_head\.'):
        check_weights_fit(rpn, faster.state_dict())
    # A few keys off are tolerated (min(4, 1%) of the model's ~150): one, not two.
    weights = dict(faster.state_dict())
    weights.pop('backbone.conv1.weight')
    check_weights_fit(faster, weights)
    weights.pop('backbone.bn1.weight')
    with pytest.raises(CheckpointMismatchError, match=r'2 weights missing .*backbone\.conv1'):
        check_weights_fit(faster, weights)


def test_class_names_come_from_the_config(ckpts, monkeypatch):
    logged = []
    monkeypatch.setattr(inference, 'print_log', lambda msg, **kw: logged.append(msg))
    m = init_inference_model(_cfg(CONFIG), ckpts['renamed'], tta=False)
    assert m.classes == CLASSES and m.model.dataset_meta['classes'] == CLASSES
    (msg,) = logged
    assert 'trained on 6 classes (c0, c1, c2, ...)' in msg and 'circle' in msg
    loaded, saved = m.model.state_dict(), ckpts['genuine_model'].state_dict()
    assert all(torch.equal(v, saved[k]) for k, v in loaded.items())


def test_resume_refuses_results_of_other_settings_or_images(tmp_path, image_dir, ckpts):
    out = str(tmp_path / 'out')
    images = [osp.join(image_dir, 'a.jpg')]
    first = infer(_cfg(CONFIG), ckpts['genuine'], images, out, tta=False, cfg_options=SMALL,
                  progress=False, draw=False)
    assert (first.done, first.resumed) == (1, 0)
    for other in (dict(checkpoint=ckpts['renamed']), dict(tta=True),
                  dict(cfg_options={'model.test_cfg.rcnn.max_per_img': 5})):
        kwargs = {**dict(checkpoint=ckpts['genuine'], tta=False, cfg_options=SMALL), **other}
        with pytest.raises(OutputConflictError, match=f'another {next(iter(other))}'):
            infer(_cfg(CONFIG), images=images, out_dir=out, progress=False, **kwargs)
    # Another image of the same name is no "done" image.
    with pytest.raises(OutputConflictError, match='holds the results of .*a.jpg, not of'):
        inference._done_before(osp.join(out, 'preds', 'a.json'), str(tmp_path / 'a.jpg'))
    assert inference._done_before(osp.join(out, 'preds', 'a.json'), images[0])


def test_output_names_are_unique():
    names = inference._output_names(['x/a.jpg', 'y/a.png', 'a_1.jpg', 'b.jpg'])
    assert names == ['a', 'a_1', 'a_1_1', 'b']
