"""The Airbus Aircraft converter on generated CSVs and small generated images."""
import importlib.util
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmsniper.annotations.airbus_aircraft import (
    convert_airbus_aircraft,
    parse_polygon,
    split_images,
)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _poly(x1, y1, x2, y2):
    return f'"[({x1}, {y1}), ({x2}, {y1}), ({x2}, {y2}), ({x1}, {y2}), ({x1}, {y1})]"'


def _make_source(root, n_train=6, n_valid=2, n_extra=1, size=(96, 64), rows=None):
    """A folder in the source's layout: train/, valid/, extras/ and annotations.csv; each
    annotated image gets two boxes (one truncated at the left border)."""
    names = {}
    for sub, n in (('train', n_train), ('valid', n_valid), ('extras', n_extra)):
        os.makedirs(osp.join(root, sub))
        for i in range(n):
            name = f'{sub}{i:02d}.jpg'
            Image.fromarray(np.full((size[1], size[0], 3), 40 * i % 255, np.uint8)).save(
                osp.join(root, sub, name))
            names[name] = sub
    lines = ['id,image_id,geometry,class']
    rid = 0
    for name, sub in names.items():
        if sub == 'extras':
            continue
        rid += 1
        lines.append(f'{rid},{name},{_poly(10, 12, 40, 30)},Airplane')
        rid += 1
        lines.append(f'{rid},{name},{_poly(0, 20, 9, 50)},Truncated_airplane')
    rid += 1  # a truncated box drawn 3 px past the right border: clipped, kept
    lines.append(f'{rid},train01.jpg,{_poly(80, 5, size[0] + 3, 25)},Truncated_airplane')
    lines += rows or []
    with open(osp.join(root, 'annotations.csv'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return rid


def _load(out, split):
    with open(osp.join(out, 'annotations', f'{split}.json')) as f:
        return json.load(f)


def test_polygons_to_coco_split_and_origins(tmp_path):
    src, out = str(tmp_path / 'src'), str(tmp_path / 'out')
    n_rows = _make_source(src)
    report = convert_airbus_aircraft(src, out, num_val=3)
    train, val = _load(out, 'train'), _load(out, 'val')
    # every valid/ image is in val, one more drawn; extras (unannotated) in no split
    val_files = sorted(i['file_name'] for i in val['images'])
    assert len(val_files) == 3 and {'valid/valid00.jpg', 'valid/valid01.jpg'} <= set(val_files)
    assert len(train['images']) == 5
    assert not {i['file_name'] for i in train['images']} & set(val_files)
    # every box in exactly one split, with its CSV id and origin
    ids = [a['csv_id'] for a in train['annotations'] + val['annotations']]
    assert sorted(ids, key=int) == [str(i) for i in range(1, n_rows + 1)]
    a = next(a for a in train['annotations'] if a['origin'] == 'Truncated_airplane')
    assert a['bbox'] == [0.0, 20.0, 9.0, 30.0] and a['category_id'] == 1
    assert train['categories'] == [dict(id=1, name='airplane', supercategory='aircraft')]
    assert train['images'][0]['width'] == 96 and train['images'][0]['height'] == 64
    assert report.splits['train']['boxes'] + report.splits['val']['boxes'] == n_rows
    assert report.splits['val']['truncated'] + report.splits['train']['truncated'] == 9
    assert report.problems['clipped'][0] == 1
    c = next(a for a in train['annotations'] + val['annotations'] if 'unclipped_box' in a)
    assert c['bbox'] == [80.0, 5.0, 16.0, 20.0] and c['unclipped_box'] == [80, 5, 99, 25]
    assert report.problems['unannotated'][0] == 1
    assert 'extras/extras00.jpg' in report.format()
    # the images are linked, never copied
    assert osp.islink(osp.join(out, 'images'))
    assert osp.realpath(osp.join(out, 'images')) == osp.realpath(src)
    # deterministic: the same split again (and the link is kept)
    convert_airbus_aircraft(src, out, num_val=3)
    assert sorted(i['file_name'] for i in _load(out, 'val')['images']) == val_files


@pytest.mark.parametrize('row, kind', [
    ('99,train00.jpg,"[(1, 2), (3, 4)",Airplane', 'malformed_geometry'),
    ('99,train00.jpg,"[(1, 2), (5, 2), (5, 6), (1, 6)]",Airplane', 'malformed_geometry'),
    ('99,train00.jpg,"[(1, 2), (5, 2), (5, nan), (1, 2)]",Airplane', 'malformed_geometry'),
    ('99,train00.jpg,"[(5, 5), (5, 10), (5, 20), (5, 5)]",Airplane', 'degenerate'),
    ('99,train00.jpg,' + _poly(100, 40, 120, 60) + ',Airplane', 'outside'),
    ('99,train00.jpg,' + _poly(5, 5, 20, 20) + ',Helicopter', 'unknown_class'),
    ('1,train00.jpg,' + _poly(5, 5, 20, 20) + ',Airplane', 'duplicate_id'),
    ('99,gone.jpg,' + _poly(5, 5, 20, 20) + ',Airplane', 'missing_image'),
])
def test_bad_rows_stop_or_are_counted(tmp_path, row, kind):
    src, out = str(tmp_path / 'src'), str(tmp_path / 'out')
    n_rows = _make_source(src, rows=[row])
    with pytest.raises(ValueError, match='nothing written') as e:
        convert_airbus_aircraft(src, out, num_val=3)
    assert '99' in str(e.value) or kind == 'duplicate_id'
    assert not osp.exists(osp.join(out, 'annotations'))
    report = convert_airbus_aircraft(src, out, num_val=3, allow_bad=True)
    assert report.problems[kind][0] == 1
    total = report.splits['train']['boxes'] + report.splits['val']['boxes']
    assert total == n_rows  # the good rows all kept, the bad one counted
    assert report.rows == n_rows + 1


def test_parse_polygon_and_split_rules():
    assert parse_polygon('[(0, 0), (4, 0), (4, 3), (0, 0)]')[1] == (4.0, 0.0)
    with pytest.raises(ValueError, match='closed'):
        parse_polygon('[(0, 0), (4, 0), (4, 3), (0, 3)]')
    with pytest.raises(ValueError, match='pairs'):
        parse_polygon('__import__("os")')
    names = [f'{i}.jpg' for i in range(10)]
    folders = {n: ('valid/' if n == '3.jpg' else 'train/') + n for n in names}
    train, val = split_images(names, folders, 4, seed=0)
    assert '3.jpg' in val and len(val) == 4 and len(train) == 6
    # adding an image elsewhere does not move the others
    folders2 = dict(folders, **{'z.jpg': 'train/z.jpg'})
    _, val2 = split_images(names + ['z.jpg'], folders2, 4, seed=0)
    assert len(set(val2) & set(val)) >= 3


def test_cli_prints_both_splits(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        'airbus_tool', osp.join(REPO, 'tools', 'dataset_converters', 'airbus_aircraft.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    main = mod.main
    src, out = str(tmp_path / 'src'), str(tmp_path / 'out')
    _make_source(src)
    assert main([src, '--out-dir', out, '--num-val', '3']) == 0
    text = capsys.readouterr().out
    assert 'val: 3 images' in text and 'boxes in the splits: 17 of 17 rows' in text
    assert main([str(tmp_path / 'nowhere'), '--out-dir', out]) == 1
    assert 'annotations.csv not found' in capsys.readouterr().err
