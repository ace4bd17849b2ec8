"""Check a COCO-format annotation file against its images, before a long run.

Behind ``tools/analysis_tools/check_dataset.py``. Checks, and counts by kind with the first
few ids (the kinds of :mod:`mmsniper.annotations`, the policy training uses):

* the file: JSON, ``images`` / ``annotations`` / ``categories``, duplicate ids, class names
  missing from ``categories``;
* every annotation: non-finite coordinates, zero/negative/sub-pixel size, outside its
  image, unknown image id or category, ``ignore`` and crowd flags (notes, not errors);
* every image: width/height in the file, the file readable and decodable, and its DECODED
  size -- decoded as ``LoadImageFromFile`` decodes it (``mmengine.fileio.get`` +
  ``mmcv.imfrombytes``; with OpenCV the EXIF orientation is applied, so a rotated phone
  photo must be annotated with its rotated size) -- equal to the annotated one.

Images are decoded in parallel (``nproc`` processes, an mmengine progress bar).
"""
from __future__ import annotations

import json
import os.path as osp
import time
from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence, Tuple

from ..annotations import KINDS, AnnotationAudit, audit_coco, format_ids, size_mismatch

#: Detailed messages kept for size mismatches and unreadable files.
_DETAILS = 3


@dataclass
class DatasetCheck:
    """What :func:`check_coco_dataset` found.

    Attributes:
        ann_file (str), img_dir (str): what was checked.
        audit (AnnotationAudit): annotation and image kinds, counts and first ids.
        file_problems (list[str]): problems of the file as a whole.
        details (dict[str, list[str]]): a few full messages per image kind
            (``'size_mismatch'``: file, image id, both sizes).
        num_categories (int), decoded (int): categories in the file, images decoded.
        seconds (float): wall time.
    """

    ann_file: str
    img_dir: str
    audit: AnnotationAudit
    file_problems: List[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)
    num_categories: int = 0
    decoded: int = 0
    nproc: int = 1
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """No data error and no file problem (crowd boxes and ``ignore`` flags are fine)."""
        return not self.audit.errors and not self.file_problems


def _decoded_size(task: Tuple[str, Optional[dict], str, str]) -> Tuple[Any, Optional[str]]:
    """``((w, h), None)`` of an image decoded as ``LoadImageFromFile`` does, or
    ``(None, why)``. Runs in worker processes."""
    import mmcv
    from mmengine import fileio

    path, backend_args, color_type, backend = task
    try:
        img = mmcv.imfrombytes(fileio.get(path, backend_args=backend_args), flag=color_type,
                               backend=backend)
    except Exception as e:  # noqa: BLE001  (any reason a run would stop on this file)
        return None, f'{type(e).__name__}: {e}'
    if img is None:
        return None, 'not a decodable image'
    return (int(img.shape[1]), int(img.shape[0])), None


def load_annotation_json(path: str) -> dict:
    """The decoded JSON; a ValueError naming the file when missing, empty or broken."""
    from mmengine.fileio import get_local_path

    if not osp.isfile(path) and '://' not in path:
        raise ValueError(f'{path}: no such annotation file')
    with get_local_path(path) as local:
        with open(local, 'rb') as f:
            raw = f.read()
    if not raw.strip():
        raise ValueError(f'{path}: the file is empty; expected COCO-format JSON')
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f'{path}: not valid JSON: {e.msg} at line {e.lineno}, column '
                         f'{e.colno}') from None
    except UnicodeDecodeError as e:
        raise ValueError(f'{path}: not valid JSON text: {e}') from None


def check_coco_dataset(ann_file: str, img_dir: str = '', classes: Optional[Sequence[str]] = None,
                       nproc: int = 1, decode: bool = True, progress: bool = True,
                       color_type: str = 'color', imdecode_backend: str = 'cv2',
                       backend_args: Optional[dict] = None, max_ids: int = 5) -> DatasetCheck:
    """Check a COCO-format annotation file and its images (see the module docstring).

    Args:
        ann_file (str): the JSON file.
        img_dir (str): the folder ``file_name`` is relative to (``data_root`` joined with
            ``data_prefix['img']`` in a config).
        classes (Sequence[str], optional): the class names a run trains (``metainfo``);
            default: every category of the file.
        nproc (int): processes decoding images. Default 1.
        decode (bool): decode the images (False: annotations only).
        progress (bool): show mmengine's progress bar.
        color_type, imdecode_backend, backend_args: as the pipeline's ``LoadImageFromFile``.
        max_ids (int): ids kept per kind.

    Raises:
        ValueError: the file cannot be read as COCO-format JSON at all.
    """
    t0 = time.perf_counter()
    data = load_annotation_json(ann_file)
    coco = audit_coco(data, ann_file, classes=classes, max_ids=max_ids)
    res = DatasetCheck(ann_file, img_dir, coco.audit, list(coco.file_problems),
                       num_categories=len(data.get('categories') or []), nproc=nproc)
    if decode:
        images = data['images']
        tasks, rows = [], []
        for i, im in enumerate(images):
            name = im.get('file_name') if isinstance(im, dict) else None
            if not name:
                res.audit.add('unreadable', [coco.image_ids[i]])
                res.details.setdefault('unreadable', []).append(
                    f'img_id {coco.image_ids[i]}: no "file_name" in the annotation file')
                continue
            tasks.append((osp.join(img_dir, name), backend_args, color_type, imdecode_backend))
            rows.append(i)
        import mmcv  # noqa: F401  (once here: forked workers inherit it, ~3 s each otherwise)
        if progress and tasks:
            from mmengine.utils import track_parallel_progress, track_progress
            sizes = (track_parallel_progress(_decoded_size, tasks, nproc) if nproc > 1
                     else track_progress(_decoded_size, tasks))
            print()  # end the progress bar's line
        elif nproc > 1 and tasks:
            from multiprocessing import Pool
            with Pool(nproc) as pool:
                sizes = pool.map(_decoded_size, tasks, chunksize=16)
        else:
            sizes = [_decoded_size(t) for t in tasks]
        res.decoded = len(tasks)
        bad_size = {i for i, (w, h) in enumerate(coco.image_wh.tolist())
                    if not (w > 0 and h > 0)}  # NaN compares False: counted as image_size
        for (path, *_), i, (wh, why) in zip(tasks, rows, sizes):
            img_id = coco.image_ids[i]
            if wh is None:
                res.audit.add('unreadable', [img_id])
                _detail(res, 'unreadable', f'image {path} (img_id {img_id}): {why}')
                continue
            if i in bad_size:
                continue
            problem = size_mismatch(wh, tuple(coco.image_wh[i]), path, img_id, advise=False)
            if problem:
                res.audit.add('size_mismatch', [img_id])
                _detail(res, 'size_mismatch', problem)
    res.seconds = time.perf_counter() - t0
    return res


def _detail(res: DatasetCheck, kind: str, text: str) -> None:
    lst = res.details.setdefault(kind, [])
    if len(lst) < _DETAILS:
        lst.append(text)


def format_check(res: DatasetCheck) -> str:
    """The per-kind summary the tool prints: problems, then notes, then the verdict."""
    a = res.audit
    head = [f'{res.ann_file}: {a.total_images} images, {a.total_boxes} annotations, '
            f'{res.num_categories} categories'
            + (f'; decoded {res.decoded} images under {res.img_dir or "."} with {res.nproc} '
               f'process(es)' if res.decoded else '; images not decoded')
            + f' in {res.seconds:.1f} s']
    errors = [k for k in a.kinds() if k.error]
    notes = [k for k in a.kinds() if not k.error]

    def rows(kinds) -> List[str]:
        out = []
        for k in kinds:
            n = a.count(k.key)
            unit = ('image' if k.unit == 'img' else 'box') + ('' if n == 1 else
                                                               ('s' if k.unit == 'img' else 'es'))
            ids = format_ids(a.ids.get(k.key, []), n, 'ann' if k.unit == 'ann' else 'img',
                             a.images.get(k.key))
            out.append(f'  {k.key:<18} {n:>7} {unit:<7} {k.label}: {ids}')
            for d in res.details.get(k.key, []):
                out.append(f'      {d}')
        return out

    body = []
    if res.file_problems:
        body += ['file problems:'] + [f'  {p}' for p in res.file_problems]
    if errors:
        body += ['problems (training would stop, train on wrong boxes, or leave boxes out):']
        body += rows(errors)
    if notes:
        body += ['notes (not errors):'] + rows(notes)
    n_err = len(errors) + len(res.file_problems)
    verdict = ('OK: no problems found' if res.ok else
               f'FAILED: {n_err} kind(s) of problems (exit status 1)')
    return '\n'.join(head + body + [verdict])


def dataset_from_config(config: str, split: str = 'train',
                        cfg_options: Optional[dict] = None) -> dict:
    """``check_coco_dataset`` arguments for the dataset of ``config``'s ``{split}_dataloader``
    (wrappers such as ``SniperDataset`` unwrapped; ``data_root`` joined; the pipeline's
    ``LoadImageFromFile`` settings)."""
    from mmengine.config import Config

    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    key = f'{split}_dataloader'
    if key not in cfg or cfg[key] is None:
        raise ValueError(f'{config}: no {key}')
    ds = cfg[key].dataset
    pipeline = ds.get('pipeline')
    while 'ann_file' not in ds and isinstance(ds.get('dataset'), dict):
        ds = ds['dataset']  # SniperDataset, RepeatDataset, ... wrap the COCO-format dataset
        pipeline = ds.get('pipeline') or pipeline
    if 'ann_file' not in ds:
        raise ValueError(f'{config}: {key}.dataset has no ann_file (type {ds.get("type")!r})')
    root = ds.get('data_root') or ''
    prefix = (ds.get('data_prefix') or {}).get('img', '')
    classes = (ds.get('metainfo') or {}).get('classes')
    if not classes:  # the dataset class's own METAINFO (CocoDataset: COCO's 80 names)
        from mmdet.registry import DATASETS
        cls = DATASETS.get(str(ds.get('type', 'CocoDataset')).split('.')[-1])
        classes = getattr(cls, 'METAINFO', {}).get('classes') if cls is not None else None
    args = dict(ann_file=osp.join(root, ds['ann_file']), img_dir=osp.join(root, prefix),
                classes=list(classes) if classes else None,
                backend_args=ds.get('backend_args'))
    for t in pipeline or []:
        if isinstance(t, dict) and str(t.get('type', '')).endswith('LoadImageFromFile'):
            args.update(color_type=t.get('color_type', 'color'),
                        imdecode_backend=t.get('imdecode_backend', 'cv2'))
            break
    return args


__all__ = ['DatasetCheck', 'check_coco_dataset', 'format_check', 'dataset_from_config',
           'load_annotation_json', 'KINDS']
