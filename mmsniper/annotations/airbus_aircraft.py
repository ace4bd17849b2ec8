"""Convert the Airbus Aircraft sample data set (CSV of pixel polygons + JPEGs) to COCO JSON.

Behind ``tools/dataset_converters/airbus_aircraft.py``; see
``docs/user_guides/airbus_aircraft.md``.

The source folder (``../shared/data/airbus-aircraft/``, read its ``SOURCE.md``) holds
``annotations.csv`` (``id,image_id,geometry,class``: one box a line, ``geometry`` a closed
pixel polygon ``"[(x, y), ..., (x, y)]"`` in ORIGINAL pixels, ``class`` ``Airplane`` or
``Truncated_airplane``) and the images in sub-folders (``train/``, ``valid/``, ``extras/``).

What it writes (never the images: ``file_name`` is relative to the source folder, which
``OUT_DIR/images`` links to):

- ``OUT_DIR/annotations/train.json`` and ``val.json``: COCO, one category ``airplane``
  (id 1); each annotation's box is the polygon's enclosing box ``[x, y, w, h]`` (ORIGINAL
  pixels) and keeps its CSV row as ``csv_id`` and its class as ``origin`` (a truncated
  aircraft at the border is still an aircraft to find);
- the split, by image, deterministic: every image of ``valid/`` and then images of the
  other folders in the order of ``sha1(seed:file name)`` until ``num_val`` validation
  images; the rest train.

Nothing is dropped silently. Data errors stop the conversion with a :class:`ValueError`
that counts them by kind and names the first ids, unless ``allow_bad`` (then those rows are
left out, still counted and named): a malformed row (unparsable or open polygon, non-finite
or fewer than 3 distinct vertices, zero width or height, no overlap with its image, an
unknown class, a duplicate id) and a CSV image missing on disk. Counted and named but not
errors: boxes drawn partly past the image border (clipped to it, their own box kept as
``unclipped_box``) and images on disk without any annotation (in no split: their ground
truth is unknown).
"""
from __future__ import annotations

import ast
import csv
import hashlib
import json
import math
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

from .audit import MAX_IDS, format_ids

#: The CSV's classes, both one category (the class stays as ``origin``).
ORIGINS = ('Airplane', 'Truncated_airplane')
CATEGORY = 'airplane'
CSV_COLUMNS = ('id', 'image_id', 'geometry', 'class')
IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.tif', '.tiff')

#: Problem kinds: key -> (words, data error?).
PROBLEMS = {
    'malformed_geometry': ('malformed geometry', True),
    'degenerate': ('zero width or height', True),
    'outside': ('outside the image (no overlap)', True),
    'clipped': ('partly outside the image, clipped to it (kept)', False),
    'unknown_class': ('unknown class', True),
    'duplicate_id': ('duplicate id', True),
    'missing_image': ('boxes on images missing on disk', True),
    'unannotated': ('images on disk without annotations (in no split)', False),
}


@dataclass
class ConversionReport:
    """What :func:`convert_airbus_aircraft` did.

    Attributes:
        splits (dict): split name -> ``{'images', 'boxes', 'truncated', 'file'}``.
        problems (dict): kind -> ``(count, first ids)`` (row ids; image names for
            ``missing_image`` and ``unannotated``).
        rows (int): CSV data rows read.
    """

    splits: Dict[str, dict] = field(default_factory=dict)
    problems: Dict[str, Tuple[int, List[str]]] = field(default_factory=dict)
    rows: int = 0

    def note(self, kind: str, ident: str) -> None:
        count, ids = self.problems.get(kind, (0, []))
        if len(ids) < MAX_IDS:
            ids.append(str(ident))
        self.problems[kind] = (count + 1, ids)

    @property
    def errors(self) -> Dict[str, Tuple[int, List[str]]]:
        return {k: v for k, v in self.problems.items() if PROBLEMS[k][1]}

    def format(self) -> str:
        lines = [f'{self.rows} CSV rows']
        for name, s in self.splits.items():
            lines.append(f'{name}: {s["images"]} images, {s["boxes"]} boxes '
                         f'({s["truncated"]} Truncated_airplane) -> {s.get("file", "-")}')
        for kind, (count, ids) in self.problems.items():
            unit = 'row id' if kind not in ('missing_image', 'unannotated') else ''
            lines.append(f'{PROBLEMS[kind][0]}: {count} ({format_ids(ids, count, unit)})')
        if self.splits:
            total = sum(s['boxes'] for s in self.splits.values())
            lines.append(f'boxes in the splits: {total} of {self.rows} rows')
        return '\n'.join(lines)


def parse_polygon(text: str) -> List[Tuple[float, float]]:
    """The vertices of ``"[(x, y), ...]"``; a ValueError saying what is wrong.

    The ring must be closed (last vertex = first), have at least 3 distinct vertices and
    finite coordinates.
    """
    try:
        pts = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise ValueError(f'not a list of (x, y) pairs: {text[:60]!r}') from None
    if not isinstance(pts, (list, tuple)) or not all(
            isinstance(p, (list, tuple)) and len(p) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p)
            for p in pts):
        raise ValueError(f'not a list of (x, y) pairs: {text[:60]!r}')
    pts = [(float(x), float(y)) for x, y in pts]
    if not all(math.isfinite(v) for p in pts for v in p):
        raise ValueError('non-finite coordinate')
    if len(pts) < 4 or pts[0] != pts[-1]:
        raise ValueError('not a closed ring (the last vertex must repeat the first)')
    if len(set(pts[:-1])) < 3:
        raise ValueError('fewer than 3 distinct vertices')
    return pts


def find_images(root: str) -> Dict[str, str]:
    """File name -> path relative to ``root``, for the images in ``root`` and its
    sub-folders (one level). A name found twice is a ValueError naming both."""
    found: Dict[str, str] = {}
    for sub in [''] + sorted(d for d in os.listdir(root) if osp.isdir(osp.join(root, d))):
        folder = osp.join(root, sub)
        for name in sorted(os.listdir(folder)):
            if name.lower().endswith(IMAGE_EXTS) and osp.isfile(osp.join(folder, name)):
                rel = osp.join(sub, name) if sub else name
                if name in found:
                    raise ValueError(f'{name} is in {root} twice: {found[name]} and {rel}; '
                                     'keep one')
                found[name] = rel
    return found


def image_size(path: str) -> Tuple[int, int]:
    """``(w, h)`` as decoded (EXIF orientation applied, as ``LoadImageFromFile``), from the
    file's header only."""
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
        orientation = im.getexif().get(0x0112, 1)
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def split_images(names: Sequence[str], folders: Dict[str, str], num_val: int,
                 seed: int = 0, val_folder: str = 'valid') -> Tuple[List[str], List[str]]:
    """``(train, val)`` image names, each sorted.

    Validation: every image in ``val_folder``, then the others in the order of
    ``sha1(f'{seed}:{name}')`` until ``num_val`` (a pure function of the names and the
    seed: adding an image elsewhere moves no other image between splits).
    """
    names = sorted(names)
    val = [n for n in names if folders[n].split('/')[0] == val_folder]
    rest = sorted((n for n in names if n not in set(val)),
                  key=lambda n: hashlib.sha1(f'{seed}:{n}'.encode()).hexdigest())
    val += rest[:max(0, num_val - len(val))]
    chosen = set(val)
    return [n for n in names if n not in chosen], sorted(val)


def read_csv(csv_path: str, report: ConversionReport) -> List[dict]:
    """The rows of ``annotations.csv`` with their polygon's box ``(x1, y1, x2, y2)``
    (ORIGINAL pixels); malformed rows are noted in ``report`` and left out."""
    rows = []
    seen = set()
    with open(csv_path, newline='') as f:
        reader = csv.DictReader(f)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f'{csv_path}: columns {missing} missing; expected a header '
                             f'{",".join(CSV_COLUMNS)} (found {reader.fieldnames})')
        for line, row in enumerate(reader, start=2):
            report.rows += 1
            rid = (row['id'] or '').strip() or f'line {line}'
            if rid in seen:
                report.note('duplicate_id', rid)
                continue
            seen.add(rid)
            if row['class'] not in ORIGINS:
                report.note('unknown_class', rid)
                continue
            try:
                pts = parse_polygon(row['geometry'] or '')
            except ValueError:
                report.note('malformed_geometry', rid)
                continue
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            box = (min(xs), min(ys), max(xs), max(ys))
            if box[2] <= box[0] or box[3] <= box[1]:
                report.note('degenerate', rid)
                continue
            rows.append(dict(id=rid, image=(row['image_id'] or '').strip(), box=box,
                             origin=row['class']))
    return rows


def _coco(names: Sequence[str], folders: Dict[str, str], sizes: Dict[str, Tuple[int, int]],
          by_image: Dict[str, List[dict]]) -> dict:
    images, anns = [], []
    for img_id, name in enumerate(names, start=1):
        w, h = sizes[name]
        images.append(dict(id=img_id, file_name=folders[name], width=w, height=h))
        for r in by_image[name]:
            x1, y1, x2, y2 = r['box']
            anns.append(dict(id=len(anns) + 1, image_id=img_id, category_id=1,
                             bbox=[x1, y1, x2 - x1, y2 - y1], area=(x2 - x1) * (y2 - y1),
                             iscrowd=0, origin=r['origin'], csv_id=r['id']))
            if 'unclipped' in r:  # the polygon's own box, ORIGINAL pixels (x1, y1, x2, y2)
                anns[-1]['unclipped_box'] = list(r['unclipped'])
    return dict(images=images, annotations=anns,
                categories=[dict(id=1, name=CATEGORY, supercategory='aircraft')])


def convert_airbus_aircraft(src: str, out_dir: str, num_val: int = 25, seed: int = 0,
                            allow_bad: bool = False, link_images: bool = True,
                            csv_name: str = 'annotations.csv') -> ConversionReport:
    """Convert the source folder ``src`` to COCO files under ``out_dir`` (see the module).

    Args:
        src (str): the folder with ``annotations.csv`` and the image sub-folders.
        out_dir (str): where ``annotations/{train,val}.json`` (and the ``images`` link)
            go.
        num_val (int): least number of validation images (``valid/`` holds 8).
        seed (int): the split's seed.
        allow_bad (bool): leave data errors out (counted, named) instead of stopping.
        link_images (bool): make ``out_dir/images`` a symbolic link to ``src`` (the
            configs' ``data_prefix``); an existing link elsewhere is an error.
        csv_name (str): the CSV's name in ``src``.

    Returns:
        ConversionReport: the splits' counts and every problem.

    Raises:
        ValueError: data errors (unless ``allow_bad``), too few images for ``num_val``,
            a bad CSV header or a name found twice.
    """
    csv_path = osp.join(src, csv_name)
    if not osp.isfile(csv_path):
        raise FileNotFoundError(f'{csv_path} not found: SRC must be the folder holding '
                                f'{csv_name} and the image folders')
    report = ConversionReport()
    rows = read_csv(csv_path, report)
    folders = find_images(src)
    by_image: Dict[str, List[dict]] = {}
    for r in rows:
        if r['image'] not in folders:
            report.note('missing_image', r['image'] + f' (row {r["id"]})')
            continue
        by_image.setdefault(r['image'], []).append(r)
    sizes = {name: image_size(osp.join(src, folders[name])) for name in sorted(by_image)}
    for name, rs in by_image.items():
        w, h = sizes[name]
        keep = []
        for r in rs:
            x1, y1, x2, y2 = r['box']
            c = (max(x1, 0.0), max(y1, 0.0), min(x2, float(w)), min(y2, float(h)))
            if c[2] <= c[0] or c[3] <= c[1]:
                report.note('outside', r['id'])
                continue
            if c != r['box']:  # truncated aircraft drawn a few pixels past the border
                report.note('clipped', r['id'])
                r = dict(r, box=c, unclipped=r['box'])
            keep.append(r)
        by_image[name] = keep
    for name in sorted(set(folders) - set(by_image)):
        report.note('unannotated', folders[name])
    for name in sorted(n for n, rs in by_image.items() if not rs):  # every row left out
        report.note('unannotated', folders[name] + ' (all its rows left out)')
    if report.errors and not allow_bad:
        raise ValueError(f'{csv_path}: data errors, nothing written:\n{report.format()}\n'
                         'Fix the CSV, or pass --allow-bad to leave these rows out '
                         '(they stay counted and named in the report)')
    names = sorted(n for n in by_image if by_image[n])
    if len(names) <= num_val:
        raise ValueError(f'{src}: {len(names)} annotated images, too few for {num_val} '
                         'validation images and a training split; lower --num-val')
    train, val = split_images(names, folders, num_val, seed)
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    for split, members in (('train', train), ('val', val)):
        coco = _coco(members, folders, sizes, by_image)
        path = osp.join(out_dir, 'annotations', f'{split}.json')
        with open(path, 'w') as f:
            json.dump(coco, f)
        report.splits[split] = dict(
            images=len(members), boxes=len(coco['annotations']), file=path,
            truncated=sum(a['origin'] == 'Truncated_airplane' for a in coco['annotations']))
    if link_images:
        _link(osp.abspath(src), osp.join(out_dir, 'images'))
    return report


def _link(target: str, link: str) -> None:
    """``link`` -> ``target``; kept when it already points there."""
    if osp.islink(link):
        if osp.realpath(link) == osp.realpath(target):
            return
        raise ValueError(f'{link} links to {os.readlink(link)}, not {target}: remove it '
                         'or pass --no-link')
    if osp.exists(link):
        raise ValueError(f'{link} exists and is not a link: the images are never copied; '
                         'remove it or pass --no-link')
    os.symlink(target, link)

