"""Inference on image files: the SNIPER pyramid (or single scale), per-image results, pictures.

The importable side of ``tools/infer.py``. Like MMDetection's ``DetInferencer`` it runs
the config's own test-time pipeline (``tta_pipeline`` with the ``tta_model`` wrapper, or
with ``tta=False`` the single-scale test pipeline and the bare detector) on images
without annotations, one image at a time. Very large images work: pyramid levels whose
scaled image exceeds ``PyramidResize``'s ``max_pixels`` run as batched chip grids
(see ``docs/inference.md``).

:func:`infer` writes, in ``DetInferencer``'s layout::

    OUT/preds/<image stem>.json   per image, as soon as it is done (atomically): labels,
                                  scores, bboxes (x1, y1, x2, y2), img_path, width, height
    OUT/vis/<image file name>     the picture with the boxes scoring >= score_thr
    OUT/detections.json           every image, COCO style, assembled from preds/ at the end
    OUT/infer_settings.json       config / checkpoint / tta the preds were made with
    OUT/focus/<image file name>   (``save_focus``, AutoFocus models) the FocusPixel map of
                                  the coarsest scale over the picture, and the FocusChips

A rerun into the same ``OUT`` skips the images whose preds file exists (resume); an
image file that cannot be read is skipped and counted (or, ``strict``, stops the run).
Weights that do not fit the config's model are refused (:func:`check_weights_fit`).

All boxes here are in ORIGINAL pixels (the image file's).
"""
from __future__ import annotations

import copy
import json
import logging
import os
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple, Sequence, Union

import numpy as np
from mmengine.logging import print_log

from ..utils.fileio import atomic_json, atomic_path
from ..visualization.detections import draw_detections, draw_focus

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
SETTINGS_FILE = 'infer_settings.json'
#: Keys of a checkpoint that may be missing from / extra to the model before it is refused:
#: at most this many, and at most MAX_OFF_FRACTION of the model's keys. A whole head has
#: more (an RPN head 6, a Faster R-CNN box head 8), so a checkpoint without it is refused.
MAX_OFF_KEYS = 4
MAX_OFF_FRACTION = 0.01
#: What a preds file holds (the first three as DetInferencer writes them).
_PRED_KEYS = {'labels', 'scores', 'bboxes', 'img_path', 'width', 'height'}
#: Unreadable images warned about one by one; beyond that they are only counted.
_MAX_WARNINGS = 10


class CheckpointMismatchError(ValueError):
    """A checkpoint's weights do not fit the model the config builds."""


class UnreadableImageError(ValueError):
    """An image file that cannot be read or decoded. ``path``: the file."""

    def __init__(self, path: str, reason: str):
        super().__init__(f'image {path} cannot be read ({reason}); fix or remove the file '
                         '(without --strict / strict=True unreadable files are skipped)')
        self.path = path


class OutputConflictError(ValueError):
    """The output folder holds results that a resumed run must not reuse."""


class InferenceModel(NamedTuple):
    """What :func:`init_inference_model` returns.

    Attributes:
        model (torch.nn.Module): the TTA wrapper around the detector (or the detector
            alone), in eval mode on its device.
        pipeline (list[dict]): the test-time pipeline config, annotations loading removed;
            its first transform loads the image from a file.
        classes (tuple[str, ...]): class names by label index.
        cfg (mmengine.Config): the config used.
    """

    model: Any
    pipeline: list
    classes: tuple
    cfg: Any


@dataclass
class InferenceSummary:
    """What :func:`infer` returns.

    Attributes:
        coco (dict): the COCO-style dict written to ``OUT/detections.json``.
        done (int): images run by this call.
        resumed (int): images skipped because their preds file existed.
        unreadable (list[str]): image files skipped because they could not be read.
        out_dir (str): the output folder.
    """

    coco: dict
    done: int = 0
    resumed: int = 0
    unreadable: list = field(default_factory=list)
    out_dir: str = ''

    def __str__(self) -> str:
        text = (f'{self.done} done, {self.resumed} skipped (resumed), '
                f'{len(self.unreadable)} unreadable')
        if self.unreadable:
            more = ', ...' if len(self.unreadable) > 3 else ''
            text += f' ({", ".join(self.unreadable[:3])}{more})'
        return text


def _strip_annotations(transforms: list) -> list:
    """The pipeline without ``LoadAnnotations`` (also inside ``TestTimeAug``)."""
    out = []
    for t in transforms:
        kind = t.get('type') if isinstance(t, dict) else None
        if isinstance(kind, str) and kind.split('.')[-1] == 'LoadAnnotations':
            continue
        if isinstance(kind, str) and kind.split('.')[-1].endswith('TestTimeAug'):
            t = copy.deepcopy(t)
            t['transforms'] = [s for s in (_strip_annotations(list(stage))
                                           for stage in t['transforms']) if s]
        out.append(t)
    return out


def _test_pipeline(cfg: Any) -> list:
    data_cfg = cfg.test_dataloader.dataset
    while 'dataset' in data_cfg:  # dataset wrappers
        data_cfg = data_cfg['dataset']
    return copy.deepcopy(list(data_cfg.pipeline))


def _classes_from_cfg(cfg: Any) -> tuple | None:
    from mmdet.registry import DATASETS

    data_cfg = cfg.get('test_dataloader', {}).get('dataset', {})
    while 'dataset' in data_cfg:
        data_cfg = data_cfg['dataset']
    classes = (data_cfg.get('metainfo') or {}).get('classes')
    if classes is None and isinstance(data_cfg.get('type'), str):
        cls = DATASETS.get(data_cfg['type'])
        classes = getattr(cls, 'METAINFO', {}).get('classes')
    return tuple(classes) if classes is not None else None


def _preview(keys: Sequence[str], n: int = 3) -> str:
    return ', '.join(keys[:n]) + (', ...' if len(keys) > n else '')


def check_weights_fit(model: Any, state_dict: Mapping[str, Any], checkpoint: str = 'checkpoint',
                      config: str = 'the config', meta: Mapping[str, Any] | None = None) -> None:
    """Refuse weights that do not fit ``model`` (another architecture or data set).

    Compares the keys and shapes of ``state_dict`` (a leading ``module.`` removed, as
    mmengine's loader does) with ``model.state_dict()``. Refused: any weight of another
    shape (e.g. a class head for 80 classes loaded into a 6-class model), or more than
    ``min(MAX_OFF_KEYS, MAX_OFF_FRACTION * n)`` keys missing from the checkpoint or
    unknown to the model (``n``: the model's keys; BatchNorm's ``num_batches_tracked``
    not counted) -- loading those would run parts of the model on random weights.

    Args:
        model (torch.nn.Module): the detector (not the TTA wrapper).
        state_dict (Mapping[str, Tensor]): the checkpoint's weights.
        checkpoint (str), config (str): names used in the error.
        meta (Mapping, optional): the checkpoint's ``meta`` (its experiment name and classes
            are named in the error).

    Raises:
        CheckpointMismatchError: naming the first mismatching keys and what to do.
    """
    own = model.state_dict()
    given = {re.sub(r'^module\.', '', k): v for k, v in state_dict.items()}
    shapes = [f'{k}: checkpoint {tuple(given[k].shape)}, model {tuple(v.shape)}'
              for k, v in own.items()
              if k in given and hasattr(given[k], 'shape')
              and tuple(given[k].shape) != tuple(v.shape)]
    missing = [k for k in own if k not in given and not k.endswith('num_batches_tracked')]
    unexpected = [k for k in given if k not in own]
    limit = min(MAX_OFF_KEYS, int(MAX_OFF_FRACTION * len(own)))
    if not shapes and len(missing) <= limit and len(unexpected) <= limit:
        return
    problems = []
    if shapes:
        problems.append(f'{len(shapes)} weights of another shape ({_preview(shapes)})')
    if len(missing) > limit:
        problems.append(f'{len(missing)} weights missing from the checkpoint '
                        f'({_preview(missing)})')
    if len(unexpected) > limit:
        problems.append(f'{len(unexpected)} weights the model does not have '
                        f'({_preview(unexpected)})')
    origin = ''
    meta = meta or {}
    if meta.get('experiment_name'):
        origin += f' It was saved by the experiment {meta["experiment_name"]!r}.'
    ckpt_classes = (meta.get('dataset_meta') or {}).get('classes')
    if ckpt_classes:
        origin += (f' It was trained on {len(ckpt_classes)} classes '
                   f'({_preview(list(ckpt_classes))}).')
    raise CheckpointMismatchError(
        f'checkpoint {checkpoint} does not fit the model of {config} ({len(own)} weights): '
        f'{"; ".join(problems)}.{origin} Run it with the config it was trained with '
        "(mmengine keeps that config's text in the checkpoint's meta['cfg']), or give a "
        'checkpoint trained with this config.')


def load_checked_weights(model: Any, checkpoint: str, config: str = 'the config') -> dict:
    """Load ``checkpoint`` into ``model`` after :func:`check_weights_fit`.

    The file is read by mmengine's ``_load_checkpoint`` (every source mmengine knows;
    mmsniper makes it a loader that runs no code from the file) on the CPU.

    Args:
        model (torch.nn.Module): the detector.
        checkpoint (str): path or URL.
        config (str): the config's name, for errors.

    Returns:
        dict: the checkpoint's ``meta`` (``{}`` if it has none).

    Raises:
        CheckpointMismatchError: the weights do not fit (nothing is loaded).
    """
    from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model

    ckpt = _load_checkpoint(checkpoint, map_location='cpu')
    if not isinstance(ckpt, Mapping):
        raise CheckpointMismatchError(f'checkpoint {checkpoint}: expected a dict of weights '
                                      f'(or one with "state_dict"), got {type(ckpt).__name__}')
    meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), Mapping) else {}
    state_dict = ckpt['state_dict'] if 'state_dict' in ckpt else ckpt
    check_weights_fit(model, state_dict, checkpoint, config, meta)
    _load_checkpoint_to_model(model, ckpt)
    return dict(meta)


def _pick_classes(cfg_classes: tuple | None, ckpt_classes: Sequence[str] | None,
                  checkpoint: str | None, config: str) -> tuple:
    """The config's class names; the checkpoint's only when the config names none."""
    if cfg_classes is None:
        if ckpt_classes is None:
            raise ValueError(f'class names: none in {config} (test_dataloader.dataset '
                             'metainfo.classes, or a dataset type with METAINFO) nor in the '
                             "checkpoint's meta.dataset_meta")
        return tuple(ckpt_classes)
    if ckpt_classes is not None and tuple(ckpt_classes) != cfg_classes:
        print_log(f'checkpoint {checkpoint} was trained on {len(ckpt_classes)} classes '
                  f'({_preview(list(ckpt_classes))}), {config} names {len(cfg_classes)} '
                  f'({_preview(list(cfg_classes))}): labels are named after the config. If '
                  'the checkpoint belongs to another data set, run it with its own config.',
                  logger='current', level=logging.WARNING)
    return cfg_classes


def init_inference_model(config: Union[str, Any], checkpoint: str | None = None,
                         device: str = 'cpu', tta: bool = True,
                         cfg_options: dict | None = None) -> InferenceModel:
    """Build the detector from a config, load weights, wrap it for test-time augmentation.

    Args:
        config (str | mmengine.Config): the config (e.g. one inheriting
            ``configs/_base_/sniper_tta.py``).
        checkpoint (str, optional): weights to load, refused if they do not fit the
            config's model (:func:`check_weights_fit`); None keeps the random
            initialisation (for benchmarks), pretrained backbones are not downloaded.
        device (str): ``'cpu'``, ``'cuda'``, ``'cuda:1'``, ...
        tta (bool): wrap the detector in ``cfg.tta_model`` and use ``cfg.tta_pipeline``
            (the SNIPER pyramid); False: the bare detector on the single-scale test
            pipeline.
        cfg_options (dict, optional): overrides merged into the config.

    Returns:
        InferenceModel: model, pipeline config, class names (the config data set's; the
        checkpoint's ``meta.dataset_meta.classes`` only when the config names none; a
        warning when both exist and differ) and config.

    Raises:
        CheckpointMismatchError: the checkpoint is of another model or data set.
    """
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope

    import mmsniper  # noqa: F401  (registration, safe checkpoint loader)

    from ..engine.sniper_settings import apply_sniper_settings

    cfg = Config.fromfile(config) if isinstance(config, str) else copy.deepcopy(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    config_name = config if isinstance(config, str) else (cfg.filename or 'the config')
    # the test pyramid's views take sniper.test_scales / test_ranges, as in a runner
    cfg = apply_sniper_settings(cfg, config_name)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model_cfg = copy.deepcopy(cfg.model)
    if isinstance(model_cfg.get('backbone'), dict):
        model_cfg.backbone.init_cfg = None  # never download pretrained weights here
    detector = MODELS.build(model_cfg)
    ckpt_classes = None
    if checkpoint is not None:
        meta = load_checked_weights(detector, checkpoint, config_name)
        ckpt_classes = (meta.get('dataset_meta') or {}).get('classes')
    classes = _pick_classes(_classes_from_cfg(cfg), ckpt_classes, checkpoint, config_name)
    detector.dataset_meta = {'classes': classes}
    if tta:
        missing = [k for k in ('tta_model', 'tta_pipeline') if k not in cfg]
        if missing:
            raise KeyError(f'tta=True needs {" and ".join(missing)} in the config; inherit '
                           'configs/_base_/sniper_tta.py or pass tta=False (--no-tta)')
        model = MODELS.build(dict(**copy.deepcopy(cfg.tta_model), module=detector))
        pipeline = copy.deepcopy(list(cfg.tta_pipeline))
        if str(cfg.tta_model.get('type', '')).split('.')[-1] == 'SniperTTAModel':
            pipeline = _large_files_on_disk(pipeline)
    else:
        model, pipeline = detector, _test_pipeline(cfg)
    model.to(device).eval()
    return InferenceModel(model, _strip_annotations(pipeline), classes, cfg)


def _large_files_on_disk(pipeline: list) -> list:
    """The SNIPER pyramid's pipeline with a plain first ``LoadImageFromFile`` (no
    arguments but ``backend_args=None``) replaced by ``LoadImageForPyramid``: files over
    16.7 MP are then read by window and level instead of decoded whole
    (docs/large_images.md); smaller ones load exactly as before. A first transform with
    other settings is left as the config has it."""
    first = pipeline[0] if pipeline else None
    if isinstance(first, dict) and str(first.get('type', '')).split('.')[-1] == \
            'LoadImageFromFile' and set(first) <= {'type', 'backend_args'} and \
            first.get('backend_args') is None:
        return [dict(type='LoadImageForPyramid')] + list(pipeline[1:])
    return pipeline


def _picture(results: dict, img: np.ndarray) -> tuple:
    """``(picture, k)``: the image to draw on, ``1 / k`` of ORIGINAL. A large file left
    on disk is read at the coarsest stored level whose long side is still >= 4096 px."""
    from ..imagefiles import image_source, level_factor

    src = image_source(results)
    if src is None:
        return img, 1
    k = level_factor(4096 / max(src.size), src.factors)
    return src.read(None, k), k


def list_images(paths: Iterable[str]) -> list[str]:
    """Image files named by ``paths``: files as given, folders expanded (sorted, not
    recursive) to their files with an image extension."""
    out = []
    for p in paths:
        if osp.isdir(p):
            out.extend(sorted(osp.join(p, f) for f in os.listdir(p)
                              if f.lower().endswith(IMAGE_EXTENSIONS)))
        elif osp.isfile(p):
            out.append(p)
        else:
            raise FileNotFoundError(f'image {p!r} does not exist')
    return out


def _loaders(pipeline: list) -> tuple:
    """``(load from file, load from array, the rest)`` of a pipeline whose first transform
    loads the image: loading is run apart so that only ITS failures mean "unreadable"."""
    from mmengine.dataset import Compose

    return (Compose(list(pipeline[:1])), Compose([dict(type='mmdet.LoadImageFromNDArray')]),
            Compose(list(pipeline[1:])))


def _load(loaders: tuple, image: Union[str, np.ndarray], img_id: int) -> dict:
    """Pipeline results after loading ``image``; UnreadableImageError if it cannot be."""
    if isinstance(image, np.ndarray):
        return loaders[1](dict(img=image, img_id=img_id))
    try:
        results = loaders[0](dict(img_path=image, img_id=img_id))
    except Exception as e:  # whatever the reader or decoder raises: not a usable image
        reason = 'not a decodable image' if isinstance(e, AssertionError) else \
            f'{type(e).__name__}: {e}'
        raise UnreadableImageError(image, reason) from e
    if results is None or results.get('img') is None:
        raise UnreadableImageError(image, 'not a decodable image')
    return results


def _predict(model: Any, rest: Any, results: dict) -> Any:
    return _predict_batch(model, rest, [results])[0]


def _predict_batch(model: Any, rest: Any, batch: Sequence[dict]) -> list:
    """One ``test_step`` over several loaded images (a TTA model then batches the chips
    of all of them together)."""
    import torch
    from mmengine.dataset import pseudo_collate

    data = pseudo_collate([rest(results) for results in batch])
    with torch.no_grad():
        return list(model.test_step(data))


def inference_images(model: Any, pipeline: list, images: Sequence[Union[str, np.ndarray]],
                     progress: bool = True) -> Iterator[Any]:
    """Run ``model`` on each image, one at a time.

    Args:
        model (torch.nn.Module): a detector or TTA model (``test_step``).
        pipeline (list[dict]): test-time pipeline config whose first transform loads
            the image (from a file; for arrays it is replaced by
            ``LoadImageFromNDArray``).
        images (Sequence[str | ndarray[H, W, 3] uint8 BGR]): paths or arrays.
        progress (bool): show an mmengine progress bar.

    Yields:
        DetDataSample: per image, ``pred_instances`` with ``bboxes`` Tensor[K, 4]
        ``(x1, y1, x2, y2)`` in ORIGINAL pixels, ``scores`` Tensor[K], ``labels``
        Tensor[K] int64; metainfo with ``ori_shape``.

    Raises:
        UnreadableImageError: an image file cannot be read (naming it).
    """
    from mmengine.utils import ProgressBar

    loaders = _loaders(pipeline)
    bar = ProgressBar(len(images)) if progress else None
    for i, image in enumerate(images):
        sample = _predict(model, loaders[2], _load(loaders, image, i))
        if bar is not None:
            bar.update()
        yield sample


def _output_names(images: Sequence[Union[str, np.ndarray]]) -> list[str]:
    """Per image, the stem of its preds file: the file's stem (``array_<i>`` for arrays);
    a stem met before gets ``_1``, ``_2``, ... (the same inputs give the same names)."""
    used: set = set()
    names = []
    for i, image in enumerate(images):
        stem = (f'array_{i}' if isinstance(image, np.ndarray)
                else osp.splitext(osp.basename(image))[0])
        name, k = stem, 0
        while name in used:
            k += 1
            name = f'{stem}_{k}'
        used.add(name)
        names.append(name)
    return names


def _write_atomic(path: str, write: Callable[[str], Any]) -> None:
    """``write(tmp)`` then rename to ``path`` (:func:`mmsniper.utils.atomic_path`): a reader
    (or a resumed run) never sees half a file; ``tmp`` ends like ``path`` (cv2 picks the
    encoder by the extension)."""
    with atomic_path(path) as tmp:
        write(tmp)


def _dump_json(obj: Any, path: str) -> None:
    atomic_json(path, obj)


def _done_before(pred_file: str, image: str) -> bool:
    """Whether ``pred_file`` holds ``image``'s results from an earlier run."""
    if not osp.isfile(pred_file):
        return False
    try:
        with open(pred_file) as f:
            record = json.load(f)
    except (OSError, ValueError) as e:
        record = e
    if not isinstance(record, dict) or not _PRED_KEYS <= set(record):
        print_log(f'{pred_file} is unreadable or not written by mmsniper ({record!r:.80}); '
                  f'running {image} again', logger='current', level=logging.WARNING)
        return False
    stored = record.get('img_path')
    if stored is not None and stored != osp.abspath(image):
        raise OutputConflictError(
            f'{pred_file} holds the results of {stored}, not of {osp.abspath(image)} (two '
            'images of that name): write to another --out, or delete that file to redo it')
    return True


def _run_settings(config: Union[str, Any], checkpoint: str | None, tta: bool,
                  cfg_options: dict | None) -> dict:
    """What makes the preds of one run differ from another's (JSON-comparable)."""
    name = config if isinstance(config, str) else getattr(config, 'filename', None)
    ckpt: Any = None
    if checkpoint is not None:
        ckpt = osp.abspath(checkpoint) if osp.exists(checkpoint) else checkpoint
        if osp.isfile(checkpoint):  # a file rewritten in place (e.g. by training) differs
            st = os.stat(checkpoint)
            ckpt = [ckpt, st.st_size, st.st_mtime_ns]
    settings = dict(config=osp.abspath(name) if name else None, checkpoint=ckpt, tta=bool(tta),
                    cfg_options=cfg_options or {})
    return json.loads(json.dumps(settings, sort_keys=True, default=repr))


def _check_settings(out_dir: str, settings: dict, resumable: bool) -> None:
    """Refuse to resume preds made with another config, checkpoint, tta or cfg_options."""
    path = osp.join(out_dir, SETTINGS_FILE)
    if resumable and osp.isfile(path):
        with open(path) as f:
            before = json.load(f)
        differ = [k for k in sorted(set(before) | set(settings))
                  if before.get(k) != settings.get(k)]
        if differ:
            raise OutputConflictError(
                f'{out_dir} holds results made with another {", ".join(differ)} '
                f'({", ".join(f"{k}: {before.get(k)} -> {settings.get(k)}" for k in differ)})'
                f'; write to another --out, or delete {osp.join(out_dir, "preds")} to start '
                'over')


def _imwrite(mmcv: Any, img: np.ndarray, path: str) -> None:
    if not mmcv.imwrite(img, path, auto_mkdir=False):
        raise OSError(f'could not write the picture {path}')


def _as_bgr_uint8(img: np.ndarray) -> np.ndarray:
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    return np.repeat(img[:, :, None], 3, axis=2) if img.ndim == 2 else img


def infer(config: Union[str, Any], checkpoint: str | None,
          images: Sequence[Union[str, np.ndarray]], out_dir: str, device: str = 'cpu',
          tta: bool = True, score_thr: float = 0.3, draw: bool = True,
          cfg_options: dict | None = None, progress: bool = True,
          model: InferenceModel | None = None, strict: bool = False,
          save_focus: bool = False, batch_size: int | None = None) -> InferenceSummary:
    """Detect objects in images; write per-image results, pictures and one COCO file.

    Per image (names: the file's stem; a repeated stem gets ``_1``, ``_2``; arrays are
    ``array_<i>``), as soon as it is done:

    - ``out_dir/preds/<stem>.json``: ``labels`` [K] int, ``scores`` [K], ``bboxes`` [K, 4]
      ``(x1, y1, x2, y2)`` in ORIGINAL pixels (every detection of the model, as
      ``DetInferencer`` writes them), ``img_path`` (absolute), ``width``, ``height``;
      written atomically, after the picture;
    - ``out_dir/vis/<file name>`` (arrays: ``array_<i>.jpg``): the boxes with score
      ``>= score_thr`` drawn.

    At the end ``out_dir/detections.json``, assembled from the preds files of ``images``:
    one COCO-style dict: ``images`` (``id`` = the image's position in ``images`` after
    folders are expanded, ``file_name`` as given, ``width``, ``height``), ``categories``
    (``id`` = label index, ``name``) and ``annotations`` (``id``, ``image_id``,
    ``category_id``, ``bbox`` ``[x, y, w, h]`` in ORIGINAL pixels, ``score``, ``area``) of
    the detections with score ``>= score_thr``; the ``annotations`` list is a valid COCO
    results list. Unreadable images are left out.

    Resume: an image file whose preds file exists is skipped (not run, not redrawn), if
    ``out_dir/infer_settings.json`` shows the same config, checkpoint (path, size, mtime),
    ``tta`` and ``cfg_options``; otherwise :class:`OutputConflictError`. Arrays always run.

    Args:
        config (str | Config): see :func:`init_inference_model`.
        checkpoint (str, optional): weights (None: random, for smoke tests).
        images (Sequence[str | ndarray]): image files or folders (expanded by
            :func:`list_images`), or BGR arrays.
        out_dir (str): output folder (created).
        device (str): torch device.
        tta (bool): the SNIPER pyramid (True) or single scale.
        score_thr (float): detections below it are left out of ``detections.json`` and
            the pictures (not out of ``preds/``).
        draw (bool): write the pictures.
        cfg_options (dict, optional): config overrides.
        progress (bool): show a progress bar.
        model (InferenceModel, optional): an already built model (then ``config``,
            ``checkpoint``, ``device``, ``tta`` and ``cfg_options`` are unused and the
            settings check is skipped).
        strict (bool): stop at the first unreadable image file (raise) instead of skipping
            it with a warning.
        save_focus (bool): AutoFocus models (``AutoFocusTTAModel``, or with ``tta=False``
            ``AutoFocusFasterRCNN``): also write ``out_dir/focus/<file name>``, the
            coarsest scale's FocusPixel map over the picture (red) and the FocusChips of
            each finer level (:func:`draw_focus`). A model without a FocusPixel branch is
            an error.
        batch_size (int, optional): images per forward pass of the model, and chips
            per forward pass of a TTA model's chip grids (its ``chip_cfg.batch_size``);
            it never changes the detections. None: one image at a time, the config's
            chip batch.

    Returns:
        InferenceSummary: the COCO dict and the counts of images done, resumed, unreadable.

    Raises:
        UnreadableImageError: ``strict`` and an image file cannot be read (the images
            before it are written; a rerun resumes after them).
        CheckpointMismatchError: the checkpoint does not fit the config.
        OutputConflictError: ``out_dir`` holds results that must not be reused.
    """
    import mmcv
    from mmengine.utils import ProgressBar

    if not (0.0 <= float(score_thr) <= 1.0):
        raise ValueError(f'score_thr: expected a value in [0, 1], got {score_thr!r}')
    if batch_size is not None and (isinstance(batch_size, bool) or
                                   not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f'batch_size: expected a positive int, got {batch_size!r}')
    # Folders expand to their image files, in place.
    expanded: list = []
    for im in images:
        expanded.extend([im] if isinstance(im, np.ndarray) else list_images([im]))
    names = _output_names(expanded)
    preds_dir, vis_dir = osp.join(out_dir, 'preds'), osp.join(out_dir, 'vis')
    settings = None
    if model is None:
        # Checked before the model is built (a conflict costs no loading time), written
        # once the weights are accepted.
        settings = _run_settings(config, checkpoint, tta, cfg_options)
        _check_settings(out_dir, settings, resumable=osp.isdir(preds_dir) and any(
            f.endswith('.json') and not f.startswith('.') for f in os.listdir(preds_dir)))
        model = init_inference_model(config, checkpoint, device=device, tta=tta,
                                     cfg_options=cfg_options)
    os.makedirs(preds_dir, exist_ok=True)
    if draw:
        os.makedirs(vis_dir, exist_ok=True)
    focus_dir = osp.join(out_dir, 'focus')
    if save_focus:
        os.makedirs(focus_dir, exist_ok=True)
    if settings is not None:
        _dump_json(settings, osp.join(out_dir, SETTINGS_FILE))
    if batch_size is not None and isinstance(getattr(model.model, 'chip_cfg', None), dict):
        model.model.chip_cfg['batch_size'] = batch_size
    summary = InferenceSummary(coco={}, out_dir=out_dir)
    loaders = _loaders(model.pipeline)
    bar = ProgressBar(len(expanded)) if progress and expanded else None
    finished = []  # (index, preds file) of the images with results
    pending: list = []  # loaded, not yet run: (index, image, name, preds file, results)

    def write(i: int, image: Any, name: str, pred_file: str, results: dict,
              sample: Any) -> None:
        img = results['img']  # kept for the picture: the pipeline may replace it
        h, w = results.get('ori_shape', img.shape)[:2]  # a large file stays on disk
        if draw or save_focus:
            img, vis_k = _picture(results, img)  # 1 / vis_k of ORIGINAL
        pred = sample.pred_instances
        ext = '.jpg' if isinstance(image, np.ndarray) else osp.splitext(image)[1]
        ext = ext if ext.lower() in IMAGE_EXTENSIONS else '.jpg'
        if save_focus:
            if 'pred_focus' not in sample:
                raise ValueError('save_focus (--save-focus): the model gives no FocusPixel '
                                 'map; use an AutoFocus config (tta_model '
                                 'AutoFocusTTAModel, model AutoFocusFasterRCNN)')
            drawing = draw_focus(_as_bgr_uint8(img), sample.pred_focus,
                                 sample.metainfo['img_shape'],
                                 sample.metainfo.get('autofocus_chips'))
            _write_atomic(osp.join(focus_dir, name + ext),
                          lambda tmp, d=drawing: _imwrite(mmcv, d, tmp))
        bboxes = pred.bboxes.detach().cpu().numpy().astype(np.float64).round(2)
        scores = pred.scores.detach().cpu().numpy().astype(np.float64).round(5)
        labels = pred.labels.detach().cpu().numpy().astype(np.int64)
        if draw:
            keep = scores >= score_thr
            drawing = draw_detections(_as_bgr_uint8(img), bboxes[keep] / vis_k,
                                      scores[keep], labels[keep], model.classes)
            _write_atomic(osp.join(vis_dir, name + ext),
                          lambda tmp, d=drawing: _imwrite(mmcv, d, tmp))
        _dump_json(dict(labels=labels.tolist(), scores=scores.tolist(),
                        bboxes=bboxes.tolist(),
                        img_path=None if isinstance(image, np.ndarray)
                        else osp.abspath(image),
                        width=int(w), height=int(h)), pred_file)

    def run_pending() -> None:
        """The loaded images through the model together, then their outputs."""
        if not pending:
            return
        samples = _predict_batch(model.model, loaders[2], [p[4] for p in pending])
        for entry, sample in zip(pending, samples):
            write(*entry, sample)
            summary.done += 1
            finished.append((entry[0], entry[3]))
            if bar is not None:
                bar.update()
        pending.clear()

    for i, (image, name) in enumerate(zip(expanded, names)):
        pred_file = osp.join(preds_dir, f'{name}.json')
        if not isinstance(image, np.ndarray) and _done_before(pred_file, image):
            summary.resumed += 1
            finished.append((i, pred_file))
        else:
            try:
                results = _load(loaders, image, i)
            except UnreadableImageError as e:
                if strict:
                    run_pending()  # the images before it are written
                    raise
                summary.unreadable.append(image)
                if len(summary.unreadable) <= _MAX_WARNINGS:
                    more = ('' if len(summary.unreadable) < _MAX_WARNINGS else
                            '; further unreadable images are only counted')
                    print_log(f'skipped unreadable image {len(summary.unreadable)}: {e}{more}',
                              logger='current', level=logging.WARNING)
                if bar is not None:
                    bar.update()
                continue
            pending.append((i, image, name, pred_file, results))
            if len(pending) < (batch_size or 1):
                continue
            run_pending()
            continue
        if bar is not None:
            bar.update()
    run_pending()
    finished.sort()
    summary.coco = _assemble_coco(expanded, finished, model.classes, score_thr)
    _dump_json(summary.coco, osp.join(out_dir, 'detections.json'))
    return summary


def _assemble_coco(images: Sequence[Union[str, np.ndarray]], finished: list,
                   classes: Sequence[str], score_thr: float) -> dict:
    """The COCO-style dict of :func:`infer` from the preds files ``finished``."""
    coco: dict = dict(images=[], annotations=[],
                      categories=[dict(id=i, name=n) for i, n in enumerate(classes)])
    for i, pred_file in finished:
        with open(pred_file) as f:
            rec = json.load(f)
        name = f'array_{i}' if isinstance(images[i], np.ndarray) else images[i]
        coco['images'].append(dict(id=i, file_name=name, width=rec['width'],
                                   height=rec['height']))
        for (x1, y1, x2, y2), s, lb in zip(rec['bboxes'], rec['scores'], rec['labels']):
            if s < score_thr:
                continue
            bw, bh = x2 - x1, y2 - y1
            coco['annotations'].append(dict(
                id=len(coco['annotations']) + 1, image_id=i, category_id=int(lb),
                bbox=[round(x1, 2), round(y1, 2), round(bw, 2), round(bh, 2)],
                score=s, area=round(bw * bh, 2)))
    return coco
