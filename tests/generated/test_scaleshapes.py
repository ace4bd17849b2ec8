"""ScaleShapes generator: determinism, COCO validity, COCO-like statistics, exact areas."""
from __future__ import annotations

import importlib.util
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmsniper.generated import scaleshapes as ss
from mmsniper.generated.scaleshapes import (
    CLASSES,
    ensure_scaleshapes,
    make_scaleshapes,
    render_scaleshapes_image,
)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load(root: str, split: str) -> dict:
    with open(osp.join(root, 'annotations', f'{split}.json'), encoding='utf-8') as f:
        return json.load(f)


@pytest.fixture(scope='module')
def stats_set(tmp_path_factory) -> tuple:
    """240 train + 10 val images with the default settings (enough for stable shares)."""
    root = str(tmp_path_factory.mktemp('scaleshapes_stats'))
    summary = make_scaleshapes(root, splits={'train': 240, 'val': 10}, seed=3, workers=2)
    return root, summary


def test_layout_and_coco_validity(stats_set):
    from pycocotools.coco import COCO

    root, summary = stats_set
    assert set(os.listdir(osp.join(root, 'annotations'))) == {'train.json', 'val.json'}
    for split, n in (('train', 240), ('val', 10)):
        coco = COCO(osp.join(root, 'annotations', f'{split}.json'))
        assert len(coco.getImgIds()) == n == summary['splits'][split]['images']
        assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(CLASSES)
        imgs = coco.dataset['images']
        anns = coco.dataset['annotations']
        assert len({im['id'] for im in imgs}) == len(imgs)
        assert len({a['id'] for a in anns}) == len(anns) == summary['splits'][split]['objects']
        files = sorted(os.listdir(osp.join(root, 'images', split)))
        assert files == sorted(im['file_name'] for im in imgs)
        for im in imgs[:5]:  # the files hold the recorded sizes
            with Image.open(osp.join(root, 'images', split, im['file_name'])) as f:
                assert f.size == (im['width'], im['height'])
        size = {im['id']: (im['width'], im['height']) for im in imgs}
        for a in anns:
            x, y, w, h = a['bbox']
            iw, ih = size[a['image_id']]
            assert w >= 1 and h >= 1 and x >= 0 and y >= 0 and x + w <= iw and y + h <= ih
            assert 0 < a['area'] <= w * h and a['iscrowd'] == 0
            assert 1 <= a['category_id'] <= len(CLASSES)


def test_size_distribution_matches_coco(stats_set):
    root, summary = stats_set
    areas = np.array([a['area'] for a in _load(root, 'train')['annotations']])
    assert len(areas) > 1400  # enough objects for a share estimate to +-1.3% (1 s.e.)
    small, large = np.mean(areas < 32**2), np.mean(areas >= 96**2)
    medium = 1 - small - large
    assert abs(small - 0.41) < 0.04 and abs(medium - 0.34) < 0.04 and abs(large - 0.24) < 0.04
    shares = summary['splits']['train']['size_shares']
    assert shares['small'] == pytest.approx(small, abs=1e-4)
    assert shares['large'] == pytest.approx(large, abs=1e-4)
    # tiny and huge both occur, as in COCO
    assert np.sqrt(areas).min() < 8 and np.sqrt(areas).max() > 300


def test_objects_per_image(stats_set):
    root, summary = stats_set
    data = _load(root, 'train')
    counts = np.bincount([a['image_id'] for a in data['annotations']], minlength=241)[1:]
    assert 6.3 < counts.mean() < 8.3
    assert 3 <= np.median(counts) <= 6
    assert counts.max() >= 20  # a long tail, like COCO's p99 of ~33
    assert (counts == 0).sum() >= 1  # some images are empty
    assert summary['splits']['train']['objects_per_image']['mean'] == pytest.approx(
        counts.mean(), abs=1e-3)


def test_image_sizes_and_classes(stats_set):
    root, summary = stats_set
    data = _load(root, 'train')
    w = np.array([im['width'] for im in data['images']])
    h = np.array([im['height'] for im in data['images']])
    long_side = np.maximum(w, h)
    assert np.all((h / w >= 0.6 - 1e-2) & (h / w <= 1.5 + 1e-2))
    assert np.mean(long_side == 640) > 0.8
    big = long_side > 1000
    assert 5 <= big.sum() <= 45 and np.all((long_side[big] >= 1200) & (long_side[big] <= 2000))
    assert summary['splits']['train']['large_images'] == big.sum()
    per_class = np.bincount([a['category_id'] for a in data['annotations']], minlength=7)[1:]
    assert np.all(per_class > 0.1 * per_class.sum())  # all six, none rare


def test_area_and_bbox_are_the_visible_mask():
    for index in range(6):
        r = render_scaleshapes_image(5, 'train', index)
        h, w = r.instance_map.shape
        assert r.image.shape == (h, w, 3) and r.image.dtype == np.uint8
        assert r.instance_map.max() == len(r.annotations)
        for k, a in enumerate(r.annotations, start=1):
            ys, xs = np.nonzero(r.instance_map == k)
            assert a['area'] == len(ys) > 0
            assert a['bbox'] == [xs.min(), ys.min(), xs.max() - xs.min() + 1,
                                 ys.max() - ys.min() + 1]


def test_written_files_match_the_renderer(tmp_path):
    root = str(tmp_path)
    make_scaleshapes(root, splits={'train': 4}, seed=9, image_format='png')
    data = _load(root, 'train')
    for im in data['images']:
        r = render_scaleshapes_image(9, 'train', im['id'] - 1)
        pixels = np.asarray(Image.open(osp.join(root, 'images', 'train', im['file_name'])))
        np.testing.assert_array_equal(pixels, r.image)  # png: lossless
        anns = [a for a in data['annotations'] if a['image_id'] == im['id']]
        assert [(a['category_id'], a['bbox'], a['area']) for a in anns] == \
            [(a['category_id'], a['bbox'], a['area']) for a in r.annotations]


def _snapshot(root: str) -> dict:
    out = {}
    for sub in ('annotations', 'images/train', 'images/val'):
        for name in sorted(os.listdir(osp.join(root, sub))):
            with open(osp.join(root, sub, name), 'rb') as f:
                out[f'{sub}/{name}'] = f.read()
    return out


def test_deterministic_from_the_seed(tmp_path):
    splits = {'train': 6, 'val': 3}
    a, b, c = (str(tmp_path / n) for n in 'abc')
    make_scaleshapes(a, splits=splits, seed=1)
    make_scaleshapes(b, splits=splits, seed=1, workers=2)  # workers do not change the data
    make_scaleshapes(c, splits=splits, seed=2)
    sa, sb, sc = _snapshot(a), _snapshot(b), _snapshot(c)
    assert sa.keys() == sb.keys() and all(sa[k] == sb[k] for k in sa)
    assert sa['annotations/train.json'] != sc['annotations/train.json']
    assert sum(sa[k] != sc.get(k) for k in sa if k.startswith('images/')) == 9
    # splits draw different images; a split's first images do not depend on its length
    assert sa['images/train/000001.jpg'] != sa['images/val/000001.jpg']
    d = str(tmp_path / 'd')
    make_scaleshapes(d, splits={'train': 2}, seed=1)
    assert _snapshot_file(d, 'images/train/000002.jpg') == sa['images/train/000002.jpg']


def _snapshot_file(root: str, rel: str) -> bytes:
    with open(osp.join(root, rel), 'rb') as f:
        return f.read()


def test_regeneration_removes_stale_images(tmp_path):
    root = str(tmp_path)
    make_scaleshapes(root, splits={'train': 5}, seed=0)
    make_scaleshapes(root, splits={'train': 2}, seed=0)
    assert sorted(os.listdir(osp.join(root, 'images', 'train'))) == ['000001.jpg', '000002.jpg']


def test_ensure_reuses_and_regenerates(tmp_path, monkeypatch):
    root = str(tmp_path / 'ss')
    first = ensure_scaleshapes(root, splits={'train': 3, 'val': 2}, seed=4)
    ann = osp.join(root, 'annotations', 'train.json')
    stamp = os.stat(ann).st_mtime_ns

    def fail(*args, **kwargs):
        raise AssertionError('regenerated although the arguments are unchanged')

    with monkeypatch.context() as m:
        m.setattr(ss, 'make_scaleshapes', fail)
        again = ensure_scaleshapes(root, splits={'train': 3, 'val': 2}, seed=4, workers=2)
    assert again == first and os.stat(ann).st_mtime_ns == stamp
    # other arguments: regenerated
    other = ensure_scaleshapes(root, splits={'train': 3, 'val': 2}, seed=5)
    assert other['args']['seed'] == 5
    with open(osp.join(root, 'meta.json'), encoding='utf-8') as f:
        assert json.load(f)['args']['seed'] == 5
    # an interrupted run (no meta.json) is regenerated
    os.remove(osp.join(root, 'meta.json'))
    ensure_scaleshapes(root, splits={'train': 3, 'val': 2}, seed=5)
    assert osp.isfile(osp.join(root, 'meta.json'))


def test_colour_does_not_give_the_class_away():
    colours = {c: [] for c in range(1, len(CLASSES) + 1)}
    for index in range(12):
        r = render_scaleshapes_image(2, 'train', index)
        for k, a in enumerate(r.annotations, start=1):
            colours[a['category_id']].append(r.image[r.instance_map == k].mean(0))
    for c, cols in colours.items():
        assert len(cols) >= 5, CLASSES[c - 1]
        assert np.std(np.array(cols), axis=0).mean() > 40, CLASSES[c - 1]


@pytest.mark.parametrize('kwargs, match', [
    (dict(splits={'train': -1}), 'splits'),
    (dict(splits={'../x': 1}), 'splits'),
    (dict(splits={}), 'splits'),
    (dict(seed=-1), 'seed'),
    (dict(image_format='gif'), 'image_format'),
    (dict(large_image_share=1.5), 'large_image_share'),
    (dict(workers=0), 'workers'),
])
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_scaleshapes(str(tmp_path), **kwargs)


def test_ensure_rejects_unknown_arguments(tmp_path):
    with pytest.raises(ValueError, match='num_imgs'):
        ensure_scaleshapes(str(tmp_path), num_imgs=3)


def test_cli(tmp_path, capsys):
    path = osp.join(REPO, 'tools', 'dataset_converters', 'make_scaleshapes.py')
    spec = importlib.util.spec_from_file_location('make_scaleshapes_cli', path)
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    with pytest.raises(SystemExit) as exc:
        cli.main(['--help'])
    assert exc.value.code == 0 and '--splits' in capsys.readouterr().out
    root = str(tmp_path / 'out')
    assert cli.main(['--out-dir', root, '--splits', 'train=3', 'val=1', '--seed', '7',
                     '--workers', '1']) == 0
    out, err = capsys.readouterr()
    assert 'train' in out and 'small / medium / large' in out and '3/3' in err
    with open(osp.join(root, 'meta.json'), encoding='utf-8') as f:
        assert json.load(f)['args']['splits'] == {'train': 3, 'val': 1}
    with pytest.raises(SystemExit) as exc:
        cli.main(['--out-dir', root, '--splits', 'train=x'])
    assert exc.value.code == 2
    assert cli.main(['--out-dir', root, '--seed', '-1']) == 2
    assert 'seed' in capsys.readouterr().err
