"""Large images (issue 19): the tiled pyramid, LoadChipWindow + ChipGenerator against the
decode-then-crop path, the converter (resume, staleness, bad files), the loading benchmark.

Images are ~2000x1500 (generated once per session); nothing here is huge.
"""
from __future__ import annotations

import importlib.util
import json
import math
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
from mmcv.transforms import LoadImageFromFile
from mmdet.structures.bbox import HorizontalBoxes

from mmsniper.analysis.benchmark import synthetic_image, tickets
from mmsniper.chips import Chip
from mmsniper.datasets import ChipGenerator, LoadChipWindow
from mmsniper.datasets.tickets import ChipTicket
from mmsniper.imagefiles import (
    ImageFileError,
    StaleImageError,
    TiledPyramid,
    jpeg_header,
    open_image,
    write_pyramid,
)
from mmsniper.imagefiles.convert import convert_large_images
from mmsniper.imagefiles.tiff import fit_level_size, halve
from mmsniper.imagefiles.windows import box_kernel, prefilter_for_scale, reads_fit_level

W, H = 2000, 1500
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    """A COCO set: one 2000x1500 JPEG (quality 90), one 640x480 JPEG, converted."""
    root = tmp_path_factory.mktemp('large')
    img_dir = root / 'images'
    img_dir.mkdir()
    cv2.imwrite(str(img_dir / 'big.jpg'), synthetic_image(W, H, 3),
                [cv2.IMWRITE_JPEG_QUALITY, 90])
    cv2.imwrite(str(img_dir / 'small.jpg'), synthetic_image(640, 480, 4),
                [cv2.IMWRITE_JPEG_QUALITY, 90])
    coco = dict(images=[dict(id=1, file_name='big.jpg', width=W, height=H),
                        dict(id=2, file_name='small.jpg', width=640, height=480)],
                annotations=[dict(id=1, image_id=1, category_id=1, bbox=[100, 120, 300, 200],
                                  area=60000, iscrowd=0)],
                categories=[dict(id=1, name='thing')])
    ann = root / 'train.json'
    ann.write_text(json.dumps(coco))
    summary = convert_large_images(str(ann), str(img_dir), progress=False)
    return dict(root=str(root), img_dir=str(img_dir), ann=str(ann), summary=summary,
                jpg=str(img_dir / 'big.jpg'), tif=str(root / 'images_pyramid' / 'big.jpg.tif'))


def _run(loader, path, ticket, size=(W, H)):
    boxes = np.array([[100, 120, 400, 320], [1500, 900, 1990, 1490]], np.float32)
    results = dict(img_path=path, img_id=1, width=size[0], height=size[1], chip=ticket,
                   gt_bboxes=HorizontalBoxes(boxes), gt_bboxes_labels=np.array([0, 1]),
                   gt_ignore_flags=np.array([False, False]))
    return ChipGenerator()(loader(results))


def test_pyramid_levels_windows_and_interop(tmp_path):
    img = synthetic_image(601, 457, 1)
    # (level 0, reduced levels): raw reduced levels under JPEG tiles (--level-compression)
    for comp, lcomp in (('none', None), ('deflate', None), ('jpeg', None), ('jpeg', 'none')):
        path = str(tmp_path / f'p_{comp}_{lcomp}.tif')
        desc = write_pyramid(img, path, tile=128, compression=comp, quality=95,
                             level_compression=lcomp)
        assert desc.get('level_compression') == lcomp
        pyr = TiledPyramid(path)
        assert pyr.factors == (1, 2, 4, 8) == tuple(desc['factors'])
        level = img
        for k in pyr.factors:
            lossless = comp != 'jpeg' or (k > 1 and lcomp == 'none')
            whole = pyr.read(None, k)
            assert whole.shape == (math.ceil(457 / k), math.ceil(601 / k), 3)
            # a window whose corner is on the factor's grid, ending at the border
            win = pyr.read((208, 96, 601, 457), k)
            expect = level[96 // k:, 208 // k:]
            diff = np.abs(win.astype(int) - expect).mean()
            assert win.shape == expect.shape
            assert diff == 0 if lossless else diff < 4, (comp, k, diff)  # q95 4:4:4
            level = halve(level)
        pyr.close()
        # a standard tiled BigTIFF: libtiff (through OpenCV) reads the full level
        back = cv2.imread(path, cv2.IMREAD_COLOR)
        assert back is not None and back.shape == img.shape
        assert np.abs(back.astype(int) - img).mean() < 2.5
    with pytest.raises(ValueError, match='not inside'):
        TiledPyramid(path).read((1, 0, 10, 10), 2)
    assert TiledPyramid(path).fit_size is None
    with pytest.raises(ValueError, match='no fit level'):
        TiledPyramid(path).read_fit()


def test_fit_level_is_the_whole_image_resized(tmp_path):
    """The fit level: stored after the factor-2 levels, the area-average resize itself."""
    img = synthetic_image(601, 457, 1)
    assert fit_level_size((601, 457), 256) == (256, 195)  # floor(457 * 256 / 601 + 0.5)
    assert fit_level_size((200, 100), 256) is None  # fits a chip already
    for lcomp in ('none', 'jpeg'):
        path = str(tmp_path / f'fit_{lcomp}.tif')
        desc = write_pyramid(img, path, tile=128, level_compression=lcomp,
                             fit_size=(256, 195))
        assert desc['fit_size'] == [256, 195]
        with TiledPyramid(path) as pyr:
            assert pyr.factors == (1, 2, 4, 8) and pyr.fit_size == (256, 195)
            fit = pyr.read_fit()
        expect = cv2.resize(img, (256, 195), interpolation=cv2.INTER_AREA)
        diff = np.abs(fit.astype(int) - expect).mean()
        assert fit.shape == (195, 256, 3)
        assert diff == 0, diff  # stored uncompressed whatever the levels are
        assert cv2.imread(path, cv2.IMREAD_COLOR).shape == img.shape  # libtiff: level 0
    with pytest.raises(ValueError, match=r'fit_size: expected .*got \(700, 195\)'):
        write_pyramid(img, path, fit_size=(700, 195))
    with pytest.raises(ValueError, match="level_compression: expected one of.*'lzw'"):
        write_pyramid(img, path, level_compression='lzw')


@pytest.mark.parametrize('scale', [2.0, 1.0, 0.7, 0.5, 0.3, 0.13, 512 / 2000])
def test_new_path_is_the_old_chip(data, scale):
    """LoadChipWindow + ChipGenerator vs LoadImageFromFile + ChipGenerator, same tickets:
    boxes identical, pixels within interpolation (and re-encoding) error."""
    for ticket in tickets((W, H), scale, 3, seed=int(scale * 1000)):
        old = _run(LoadImageFromFile(), data['jpg'], ticket)
        for path in (data['jpg'], data['tif']):
            new = _run(LoadChipWindow(), path, ticket)
            assert 'img_window' not in new
            assert new['img'].shape == old['img'].shape == (512, 512, 3)
            np.testing.assert_allclose(new['gt_bboxes'].numpy(), old['gt_bboxes'].numpy(),
                                       atol=1e-4)
            np.testing.assert_array_equal(new['gt_ignore_flags'], old['gt_ignore_flags'])
            assert new['scale_factor'] == old['scale_factor']
            d = new['img'].astype(np.float64) - old['img']
            mad = np.abs(d).mean()
            psnr = 10 * math.log10(255 ** 2 / max((d ** 2).mean(), 1e-12))
            print(f'scale {scale:.3f} {osp.basename(path)}: MAD {mad:.2f}, PSNR {psnr:.1f} dB')
            assert mad <= 2.0 and psnr >= 30, (scale, path, mad, psnr)
            if path == data['jpg'] and scale > 0.5:  # same decode, same crop: identical
                assert mad == 0
            if path == data['tif'] and scale == 512 / W:  # the fit level: the same resize
                assert mad == 0


def test_oversample_reads_a_finer_level_for_closer_chips(data):
    """oversample=2: one level finer, averaged in blocks; closer to the old chip."""
    for ticket in tickets((W, H), 0.13, 2, seed=13):
        old = _run(LoadImageFromFile(), data['jpg'], ticket)['img'].astype(np.float64)
        mads = {}
        for n in (1, 2):
            loader = LoadChipWindow(oversample=n)
            got = loader(dict(img_path=data['tif'], width=W, height=H, chip=ticket))
            assert got['img_window'][2] == 4 // n  # 0.13: level 4, or 2 one finer
            mads[n] = np.abs(_run(loader, data['tif'], ticket)['img'] - old).mean()
        print(f'oversample MAD {mads}')
        assert mads[2] < 0.7 * mads[1], mads
    with pytest.raises(ValueError, match='oversample must be 1 or 2, got 4'):
        LoadChipWindow(oversample=4)


def test_prefilter_is_a_centred_fractional_box():
    np.testing.assert_allclose(box_kernel(3), [1 / 3] * 3, rtol=1e-6)
    np.testing.assert_allclose(box_kernel(2), [0.25, 0.5, 0.25], rtol=1e-6)
    np.testing.assert_allclose(box_kernel(2.5), [0.3, 0.4, 0.3], rtol=1e-6)
    np.testing.assert_allclose(box_kernel(4.5), np.array([0.75, 1, 1, 1, 0.75]) / 4.5,
                               rtol=1e-6)
    assert box_kernel(0.5).tolist() == [1.0]
    img = synthetic_image(64, 48, 2)
    assert prefilter_for_scale(img, 4, (0.2, 0.2)) is img  # a shrink under 2x: untouched
    out = prefilter_for_scale(img, 4, (0.1, 1 / 12))  # 2.5x across, 3x down
    ref = cv2.sepFilter2D(img.astype(np.float64), -1, box_kernel(1.5), box_kernel(2),
                          borderType=cv2.BORDER_REPLICATE)
    assert out.shape == img.shape and np.abs(out - ref).max() <= 0.501  # rounded
    assert prefilter_for_scale(img[:, :, :1], 4, (0.1, 0.1)).shape == (48, 64, 1)


def test_windows_read_only_what_the_chip_needs(data):
    ticket = tickets((W, H), 0.25, 1, seed=5)[0]
    results = LoadChipWindow()(dict(img_path=data['tif'], width=W, height=H, chip=ticket))
    x0, y0, k = results['img_window']
    assert k == 4 and x0 % 4 == 0 and y0 % 4 == 0
    assert results['ori_shape'] == (H, W)
    # a 512 chip at scale 1/4 from level 4: about 512 + 2 level pixels a side
    assert max(results['img'].shape[:2]) <= 512 + 2
    # JPEG: decoded at 1/4
    results = LoadChipWindow()(dict(img_path=data['jpg'], width=W, height=H, chip=ticket))
    assert results['img_window'][2] == 4
    results = LoadChipWindow(reduced_jpeg=False)(dict(img_path=data['jpg'], width=W,
                                                      height=H, chip=ticket))
    assert results['img_window'][2] == 1
    # SNIPER's coarsest chip (the whole image in one chip) from the converter's fit level
    ticket = tickets((W, H), 512 / W, 1, seed=5)[0]
    results = LoadChipWindow()(dict(img_path=data['tif'], width=W, height=H, chip=ticket))
    assert results['img_window'] == (0, 0, 'fit') and results['img'].shape == (384, 512, 3)
    results['img'] = results['img'][:, :-1]  # not what the chip resizes to: an error
    results.update(gt_bboxes=HorizontalBoxes(np.zeros((0, 4), np.float32)))
    with pytest.raises(ValueError, match=r'fit level is 511x384 .* to 512x384'):
        ChipGenerator()(results)
    # ... but not a chip at the same scale that is not the whole image (a wider image)
    assert not reads_fit_level((0, 0, 1000, 1500), 512 / W, (W, H), (512, 384))


def test_simple_mode_is_load_image_from_file(data):
    a = LoadChipWindow()(dict(img_path=data['jpg']))
    b = LoadImageFromFile()(dict(img_path=data['jpg']))
    assert 'img_window' not in a and a['ori_shape'] == b['ori_shape'] == (H, W)
    np.testing.assert_array_equal(a['img'], b['img'])


def test_size_check_uses_the_file_size(data):
    ticket = tickets((W, H), 0.5, 1, seed=1)[0]
    with pytest.raises(ValueError, match=r'big.jpg.tif \(img_id 1\).*2000x1500.*1000x1500'):
        LoadChipWindow()(dict(img_path=data['tif'], img_id=1, width=1000, height=1500,
                              chip=ticket))
    # ChipGenerator checks the window's ori_shape (the file's size), not the window
    results = LoadChipWindow()(dict(img_path=data['tif'], img_id=1, width=W, height=H,
                                    chip=ticket))
    results.update(width=W + 1, gt_bboxes=HorizontalBoxes(np.zeros((0, 4), np.float32)))
    with pytest.raises(ValueError, match='ChipGenerator: .*2000x1500'):
        ChipGenerator()(results)


def test_converter_outputs_and_resume(data, tmp_path):
    s = data['summary']
    assert (s.converted, s.kept, s.resumed, s.bad) == (1, 1, 0, [])
    with open(s.out_ann) as f:
        coco = json.load(f)
    big, small = coco['images']
    assert big['file_name'] == '../images_pyramid/big.jpg.tif'
    assert big['mmsniper_source'] == 'big.jpg' and small['file_name'] == 'small.jpg'
    assert osp.isfile(osp.join(data['img_dir'], big['file_name']))
    with open(osp.join(s.out_dir, 'manifest.json')) as f:
        manifest = json.load(f)
    assert manifest['images']['big.jpg']['status'] == 'converted'
    assert manifest['images']['small.jpg']['status'] == 'kept'
    assert open_image(data['tif']).kind == 'pyramid'
    # a second run makes nothing again
    again = convert_large_images(data['ann'], data['img_dir'], progress=False)
    assert (again.converted, again.resumed, again.kept) == (0, 1, 1)
    # the fit level (--fit-chip, default 512); 0: none, and a change of it converts again
    assert TiledPyramid(data['tif']).fit_size == (512, 384)
    out = str(tmp_path / 'nofit')
    plain = convert_large_images(data['ann'], data['img_dir'], out_dir=out,
                                 out_ann=str(tmp_path / 'nofit.json'), fit_chip=0,
                                 progress=False)
    assert plain.converted == 1
    assert TiledPyramid(osp.join(out, 'big.jpg.tif')).fit_size is None
    with pytest.raises(ValueError, match='fit_chip: expected a chip size'):
        convert_large_images(data['ann'], data['img_dir'], out_dir=out, fit_chip=-1,
                             progress=False)


def test_stale_pyramid_is_refused_then_reconverted(tmp_path):
    img_dir = tmp_path / 'images'
    img_dir.mkdir()
    src = img_dir / 'a.png'
    img = synthetic_image(1200, 900, 9)
    cv2.imwrite(str(src), img)
    ann = tmp_path / 'a.json'
    ann.write_text(json.dumps(dict(images=[dict(id=1, file_name='a.png', width=1200,
                                                height=900)], annotations=[],
                                   categories=[])))
    s = convert_large_images(str(ann), str(img_dir), progress=False, nproc=2)
    assert s.converted == 1
    tif = osp.join(s.out_dir, 'a.png.tif')
    ticket = tickets((1200, 900), 0.5, 1, seed=0)[0]
    LoadChipWindow()(dict(img_path=tif, width=1200, height=900, chip=ticket))
    cv2.imwrite(str(src), img[:, ::-1])  # the source changes after the conversion
    st = os.stat(src)
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))
    with pytest.raises(StaleImageError, match=r'a.png.tif.*converted from .*a.png.*changed'):
        LoadChipWindow()(dict(img_path=tif, width=1200, height=900, chip=ticket))
    s = convert_large_images(str(ann), str(img_dir), progress=False)
    assert (s.converted, s.resumed) == (1, 0)
    LoadChipWindow()(dict(img_path=tif, width=1200, height=900, chip=ticket))


def test_bad_files_stop_naming_them_or_are_skipped_and_counted(data, tmp_path):
    img_dir = tmp_path / 'images'
    img_dir.mkdir()
    shutil.copy(data['jpg'], img_dir / 'good.jpg')
    raw = open(data['jpg'], 'rb').read()
    (img_dir / 'cut.jpg').write_bytes(raw[:len(raw) // 2])  # truncated
    (img_dir / 'junk.jpg').write_bytes(b'\xff\xd8\xff' + b'\x00' * 5000)  # corrupt
    ann = tmp_path / 'a.json'
    ann.write_text(json.dumps(dict(images=[
        dict(id=i, file_name=n, width=W, height=H)
        for i, n in enumerate(['good.jpg', 'cut.jpg', 'junk.jpg'])], annotations=[],
        categories=[])))
    with pytest.raises(ImageFileError, match=r'cut.jpg.*truncated'):
        convert_large_images(str(ann), str(img_dir), progress=False)
    s = convert_large_images(str(ann), str(img_dir), progress=False, skip_bad=True)
    assert s.converted + s.resumed == 1 and len(s.bad) == 2
    assert any('cut.jpg' in b for b in s.bad) and any('junk.jpg' in b for b in s.bad)
    ticket = tickets((W, H), 0.25, 1, seed=0)[0]
    with pytest.raises(ImageFileError, match=r'cut.jpg.*truncated'):
        LoadChipWindow()(dict(img_path=str(img_dir / 'cut.jpg'), chip=ticket))
    # a truncated pyramid names the file
    tif = osp.join(s.out_dir, 'good.jpg.tif')
    cut = str(tmp_path / 'cut.tif')
    with open(tif, 'rb') as f:
        blob = f.read()
    with open(cut, 'wb') as f:
        f.write(blob[:len(blob) - 5000])
    with pytest.raises(ImageFileError, match=r'cut.tif.*truncated'):
        LoadChipWindow()(dict(img_path=cut, chip=ticket))


def test_held_jpeg_level_is_opencvs_decode(data, tmp_path):
    """A test-time chip grid holds a JPEG as PIL decodes it (OpenCV's decoder peaks at twice
    the array): the same pixels as OpenCV's full and reduced decodes, windows clipped as
    NumPy clips; greyscale too. Rotated (EXIF) and CMYK JPEGs are held as OpenCV decodes
    them; a truncated one names the file."""
    from PIL import Image

    from mmsniper.imagefiles import HeldLevel, ScaledWindows

    grey = str(tmp_path / 'grey.jpg')
    cv2.imwrite(grey, cv2.cvtColor(synthetic_image(203, 157, 5), cv2.COLOR_BGR2GRAY))
    rotated, cmyk = str(tmp_path / 'rotated.jpg'), str(tmp_path / 'cmyk.jpg')
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.open(grey).convert('RGB').save(rotated, exif=exif)
    Image.open(grey).convert('CMYK').save(cmyk)
    cases = [(data['jpg'], 'pil', (1, 2, 8)), (grey, 'pil', (1, 4)),
             (rotated, 'array', (1, 2)), (cmyk, 'array', (1,))]
    for path, kind, factors in cases:
        src = open_image(path)
        for k in factors:
            held = src.hold(k)
            assert isinstance(held, HeldLevel)
            assert isinstance(held.img, np.ndarray) == (kind == 'array'), (path, k)
            whole = src.read(None, k)  # OpenCV
            assert tuple(held.shape) == whole.shape[:2]
            h, w = whole.shape[:2]
            for rows, cols in ((slice(0, h), slice(0, w)), (slice(3, 40), slice(7, 90)),
                               (slice(h - 5, h + 30), slice(w - 9, w + 30))):
                cut = held.crop(rows, cols)
                assert cut.flags['C_CONTIGUOUS'] and cut.dtype == np.uint8
                np.testing.assert_array_equal(cut, whole[rows, cols], err_msg=f'{path} 1/{k}')
    # the test-time chip grid cuts the same windows from either
    for scale in (0.9, 0.3):
        sw = ScaledWindows(open_image(data['jpg']), (scale, scale))
        wins = [(0, 0, 300, 200), (250, 100, 600, 450)]
        from_pil = [sw.cut(w) for w in wins]
        assert not isinstance(sw._held.img, np.ndarray)
        sw._held = HeldLevel(sw.source.read(None, sw.k))
        for w, a in zip(wins, from_pil):
            np.testing.assert_array_equal(a, sw.cut(w))
    with pytest.raises(ValueError, match='read by window'):
        open_image(data['tif']).hold(1)
    raw = open(data['jpg'], 'rb').read()
    cut = tmp_path / 'cut.jpg'
    cut.write_bytes(raw[:len(raw) // 2])
    with pytest.raises(ImageFileError, match=r'cut.jpg.*truncated'):
        open_image(str(cut)).hold(1)


def test_pil_pixel_limit_is_lifted_only_for_the_header(tmp_path):
    """A JPEG whose header says 15000x15000 (225 MP, over PIL's ~179 MP guard)."""
    from PIL import Image

    ok, buf = cv2.imencode('.jpg', np.zeros((16, 16, 3), np.uint8))
    data = bytearray(buf.tobytes())
    sof = data.find(b'\xff\xc0')
    data[sof + 5:sof + 9] = (15000).to_bytes(2, 'big') * 2  # height, width
    path = tmp_path / 'huge.jpg'
    path.write_bytes(bytes(data))
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(Image.DecompressionBombError):
        Image.open(path)
    assert jpeg_header(str(path))[0] == (15000, 15000)
    assert Image.MAX_IMAGE_PIXELS == before  # restored
    with pytest.raises(ImageFileError, match=r'huge.jpg.*max_image_pixels=100000000'):
        open_image(str(path), max_image_pixels=10 ** 8)
    ticket = ChipTicket(0, Chip(0, 1.0, (0.0, 0.0, 512.0, 512.0)), (0, math.inf), 512)
    with pytest.raises(ImageFileError, match='max_image_pixels'):
        LoadChipWindow(max_image_pixels=10 ** 8)(dict(img_path=str(path), chip=ticket))


def test_tools_and_benchmark_smoke(data, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        'convert_tool', osp.join(REPO, 'tools', 'dataset_converters',
                                 'convert_large_images.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out_ann = str(tmp_path / 'out.json')
    mod.main([data['ann'], data['img_dir'], '--out-dir', str(tmp_path / 'pyr'),
              '--out-ann', out_ann, '--min-pixels', '100'])
    assert '2 converted' in capsys.readouterr().out
    from mmsniper.analysis.benchmark import format_table, run_benchmark

    res = run_benchmark(str(tmp_path / 'bench'), sizes=[(640, 480), (1300, 1000)],
                        formats=['tiff-raw', 'jpeg', 'tiff'], max_chips=2, min_seconds=0.0,
                        progress=None)
    table = format_table(res)
    assert '| 1300x1000 | tiff | 0.5 | 2 |' in table and 'peak RSS' in table
    # raw reduced levels: compared with the tiff file's old-path chips, measured once
    raw = [line for line in table.splitlines() if line.startswith('| 1300x1000 | tiff-raw | 0.5 ')]
    assert len(raw) == 1 and raw[0].split('|')[5].strip() != '-', table
    assert not any(j['format'] == 'tiff-raw' and j['path'] == 'old' for j in res['jobs'])
    # SNIPER's coarsest chip from the fit level; its other default scale (0.8) marked too
    fit = [line for line in table.splitlines() if line.startswith('| 1300x1000 | tiff-raw | '
                                                                  '0.3938* | fit |')]
    assert len(fit) == 1 and float(fit[0].split('|')[9].split(',')[0]) < 0.5, table
    assert '| 1300x1000 | jpeg | 0.8* | 1 |' in table
    for job in res['jobs']:
        assert job['rss_added_mb'] >= 0 and all(r['chips'] >= 1 for r in job['rows'])


# -- inference: large files stay on disk ----------------------------------------------------

def _blob_detector():
    spec = importlib.util.spec_from_file_location(
        'tta_tests', osp.join(REPO, 'tests', 'models', 'test_tta.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.BlobDetector, mod.canvas


@pytest.mark.parametrize('flip', [False, True])
def test_pyramid_inference_reads_large_files_by_window(tmp_path, flip):
    """The same detections whether the image is decoded whole (LoadImageFromFile) or left
    on disk (LoadImageForPyramid: the whole level read at its level, the chip-grid level
    read by window from the pyramid file)."""
    import torch
    from mmengine.dataset import Compose, pseudo_collate
    from mmengine.registry import init_default_scope

    from mmsniper.datasets import PYRAMID_META_KEYS
    from mmsniper.models import SniperTTAModel

    BlobDetector, canvas = _blob_detector()
    objects = [(100, 100, 260, 220, 1, 0.9), (1200, 700, 1500, 1000, 2, 0.8),
               (2000, 1500, 2300, 1750, 3, 0.7), (40, 1600, 400, 1780, 1, 0.6)]
    img = canvas(1800, 2400, objects)
    png = str(tmp_path / 'blobs.png')
    cv2.imwrite(png, img)
    tif = str(tmp_path / 'blobs.tif')
    write_pyramid(img, tif, compression='deflate')  # lossless: blobs stay exact
    init_default_scope('mmdet')
    flips = [dict(type='RandomFlip', prob=1., direction='horizontal')] if flip else \
        [dict(type='RandomFlip', prob=0.)]
    views = dict(type='TestTimeAug', transforms=[
        [dict(type='PyramidResize', scale=0.5, level=0, max_pixels=500 * 500,
              test_range=(-1, -1)),
         dict(type='PyramidResize', scale=0.125, level=1, test_range=(-1, -1))],
        flips, [dict(type='PackDetInputs', meta_keys=PYRAMID_META_KEYS)]])
    out = {}
    for name, load, path in (('whole', dict(type='LoadImageFromFile'), png),
                             ('disk', dict(type='LoadImageForPyramid', lazy_pixels=10 ** 6),
                              tif)):
        pipe = Compose([load, views])
        results = pipe(dict(img_path=path, img_id=0))
        metas = [s.metainfo for s in results['data_samples']]
        chips = [m['pyramid_chips'] for m in metas]
        assert chips == ([True, False] if name == 'whole' else ['file', False])
        if name == 'disk':  # nothing ORIGINAL-sized in memory
            assert max(int(np.prod(x.shape)) for x in results['inputs']) <= 3 * 300 * 225
        model = SniperTTAModel(module=BlobDetector(), merger=dict(type='NMSMerger'),
                               chip_cfg=dict(chip_size=512, overlap=200, batch_size=4))
        with torch.no_grad():
            pred = model.test_step(pseudo_collate([results]))[0].pred_instances
        out[name] = sorted((tuple(round(v) for v in b), int(lb))
                           for b, lb in zip(pred.bboxes.tolist(), pred.labels.tolist()))
    assert len(out['disk']) == len(out['whole']) >= len(objects)
    for (a, la), (b, lb) in zip(out['whole'], out['disk']):
        assert la == lb and max(abs(x - y) for x, y in zip(a, b)) <= 8, (a, b)


def test_infer_reads_large_files_on_disk_only_for_a_plain_loader():
    from mmsniper.apis.inference import _large_files_on_disk

    rest = [dict(type='TestTimeAug', transforms=[])]
    assert _large_files_on_disk([dict(type='LoadImageFromFile', backend_args=None)] + rest) \
        == [dict(type='LoadImageForPyramid')] + rest
    custom = [dict(type='LoadImageFromFile', color_type='grayscale')] + rest
    assert _large_files_on_disk(custom) == custom


def test_training_skips_and_counts_unreadable_images_when_told(scaleshapes_root, tmp_path):
    """LoadChipWindow(skip_bad=True) + SniperDataset: a truncated training image is logged
    and counted, and a chip of another image is served in its place; without skip_bad the
    run stops naming the file."""
    import shutil

    from mmengine.registry import init_default_scope

    import mmsniper  # noqa: F401
    from mmsniper.datasets import SniperDataset

    init_default_scope('mmdet')
    root = tmp_path / 'set'
    shutil.copytree(scaleshapes_root, root)
    with open(root / 'annotations' / 'train.json') as f:
        first = json.load(f)['images'][0]['file_name']
    bad = root / 'images' / 'train' / first
    raw = bad.read_bytes()
    bad.write_bytes(raw[:len(raw) // 2])

    def build(skip_bad):
        pipeline = [dict(type='LoadChipWindow', skip_bad=skip_bad),
                    dict(type='LoadAnnotations', with_bbox=True), dict(type='ChipGenerator'),
                    dict(type='PackDetInputs')]
        return SniperDataset(
            dataset=dict(type='CocoDataset', data_root=str(root) + '/',
                         ann_file='annotations/train.json',
                         data_prefix=dict(img='images/train/'), pipeline=pipeline,
                         metainfo=dict(classes=('circle', 'triangle', 'square', 'star',
                                                'cross', 'ring'))),
            scales=[(480, 800), (-1, 256)], train_ranges=[(-1, 64), (48, -1)],
            chip_size=256, stride=16)

    ds = build(True)
    bad_idx = next(i for i in range(len(ds)) if ds.get_data_info(i)['img_path'].endswith(
        first))
    tickets = [t for t in ds.plan_epoch(0, seed=0) if t.index == bad_idx]
    out = ds[tickets[0]]
    assert tuple(out['inputs'].shape) == (3, 256, 256)
    assert out['data_samples'].img_path != str(bad)  # another image's chip
    assert ds.skipped_images == {bad_idx}
    ds[bad_idx]  # simple mode too
    assert ds.skipped_images == {bad_idx}
    with pytest.raises(ImageFileError, match=first):
        build(False)[tickets[0]]
