"""SniperDataset planning and ChipSampler sharding, determinism and resume."""
from __future__ import annotations

import os.path as osp
from collections import Counter

import pytest

import mmsniper  # noqa: F401
from mmsniper.datasets import ChipSampler, ChipTicket, SniperDataset
from mmsniper.engine.hooks import ChipSamplerHook


def make_dataset(root: str, **kw) -> SniperDataset:
    inner = dict(type='CocoDataset', data_root=root, ann_file='annotations/train.json',
                 data_prefix=dict(img='images/train/'), filter_cfg=dict(filter_empty_gt=False),
                 metainfo=dict(classes=('circle', 'triangle', 'square', 'star', 'cross',
                                        'ring')),
                 pipeline=[])
    kw.setdefault('scales', [(700, 1000), (400, 640), (-1, 256)])
    kw.setdefault('train_ranges', [(-1, 48), (24, 112), (96, -1)])
    kw.setdefault('chip_size', 256)
    return SniperDataset(inner, **kw)


def make_sampler(ds, rank=0, world=1, monkeypatch=None, **kw) -> ChipSampler:
    monkeypatch.setattr('mmsniper.datasets.sampler.get_dist_info', lambda: (rank, world))
    return ChipSampler(ds, seed=kw.pop('seed', 3), **kw)


def key(t: ChipTicket):
    return (t.index, t.chip)


@pytest.fixture(scope='module')
def dataset(scaleshapes_root):
    return make_dataset(scaleshapes_root)


def test_plan_is_pure_and_covers_every_image_with_boxes(dataset):
    a = dataset.plan_epoch(0, seed=1)
    b = dataset.plan_epoch(0, seed=1)
    assert [key(t) for t in a] == [key(t) for t in b]
    assert all(isinstance(t, ChipTicket) and t.chip_size == 256 for t in a)
    with_boxes = {i for i in range(len(dataset)) if len(dataset.image_annotations(i)[0])}
    assert {t.index for t in a} == with_boxes
    st = dataset.last_plan_stats
    assert st['pos_chips'] == len(a) and st['neg_chips'] == 0 and st['pixel_ratio'] > 0
    # tickets carry the range of their level, and what the transform needs besides
    for t in a:
        lo, hi = dataset.settings.train_bounds[t.chip.level]
        assert t.valid_range == (lo, hi)
        assert (t.min_size, t.min_visible) == (10.0, 0.5)


@pytest.mark.parametrize('world', [1, 2, 3])
def test_shards_are_disjoint_and_complete(dataset, world, monkeypatch):
    plan = make_sampler(dataset, 0, 1, monkeypatch).epoch_plan()
    shards = [list(make_sampler(dataset, r, world, monkeypatch)) for r in range(world)]
    seen = Counter(key(t) for s in shards for t in s)
    assert sum(seen.values()) == len(plan)           # nothing repeated
    assert set(seen) == {key(t) for t in plan}        # nothing lost
    lengths = [len(s) for s in shards]
    assert max(lengths) - min(lengths) <= 1
    for r in range(world):
        assert len(make_sampler(dataset, r, world, monkeypatch)) == lengths[r]


def test_pad_to_equal_repeats_at_most_one_chip_per_rank(dataset, monkeypatch):
    world = 3
    shards = [list(make_sampler(dataset, r, world, monkeypatch, pad_to_equal=True))
              for r in range(world)]
    assert len({len(s) for s in shards}) == 1
    for s in shards:
        assert len(s) - len({key(t) for t in s}) <= 1


def test_deterministic_for_a_seed_and_new_chips_each_epoch(dataset, monkeypatch):
    s1 = make_sampler(dataset, 0, 1, monkeypatch, seed=5)
    s2 = make_sampler(dataset, 0, 1, monkeypatch, seed=5)
    assert [key(t) for t in s1] == [key(t) for t in s2]
    s3 = make_sampler(dataset, 0, 1, monkeypatch, seed=6)
    assert [key(t) for t in s3] != [key(t) for t in s1]     # another order
    s1.set_epoch(1)
    e1 = [key(t) for t in s1]
    s1.set_epoch(0)
    assert e1 != [key(t) for t in s1]


def test_resume_position_replays_the_uninterrupted_run(dataset, monkeypatch):
    """Batches after a resume at iteration k equal the uninterrupted run's batches."""
    bs = 3

    class Loader:  # what the hook reads of a DataLoader
        batch_size, drop_last = bs, False

    def batches(sampler, epochs):
        out = []
        for e in range(epochs):
            sampler.set_epoch(e)
            shard = list(sampler)
            out += [shard[i:i + bs] for i in range(0, len(shard), bs)]
        return out

    full = batches(make_sampler(dataset, 1, 2, monkeypatch), 3)
    k = len(full) // 2 + 1
    s = make_sampler(dataset, 1, 2, monkeypatch)
    epoch, offset = ChipSamplerHook._locate(s, Loader, k)
    s.set_epoch(epoch)
    s.start = offset
    shard = list(s)                        # rest of the resumed epoch
    resumed = [shard[i:i + bs] for i in range(0, len(shard), bs)]
    for e in range(epoch + 1, 3):
        s.set_epoch(e)
        rest = list(s)
        resumed += [rest[i:i + bs] for i in range(0, len(rest), bs)]
    assert [[key(t) for t in b] for b in resumed] == [[key(t) for t in b] for b in full[k:]]


def test_sampler_needs_the_wrapper(scaleshapes_root, monkeypatch):
    from mmdet.datasets import CocoDataset
    inner = CocoDataset(data_root=scaleshapes_root, ann_file='annotations/train.json',
                        data_prefix=dict(img='images/train/'), pipeline=[])
    with pytest.raises(TypeError, match='SniperDataset'):
        make_sampler(inner, 0, 1, monkeypatch)


def test_bad_settings_name_the_key(scaleshapes_root):
    with pytest.raises(ValueError, match=r'train_dataloader.dataset.train_ranges: expected one '
                                         r'\(lo, hi\) per scale'):
        make_dataset(scaleshapes_root, train_ranges=[(-1, 80)])
    with pytest.raises(ValueError, match='train_dataloader.dataset.stride'):
        make_dataset(scaleshapes_root, stride=0)
    # what the sampler would refuse at its first __iter__ is refused here, at build time
    with pytest.raises(ValueError, match=r'train_dataloader.dataset.stride: expected less than '
                                         r'chip_size - 1 = 255, got 255'):
        make_dataset(scaleshapes_root, stride=255)


def test_getitem_runs_the_pipeline_with_the_ticket(scaleshapes_root):
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    ds = make_dataset(scaleshapes_root)
    ds.dataset.pipeline.transforms.clear()
    from mmcv.transforms import Compose
    ds.dataset.pipeline = Compose([dict(type='LoadImageFromFile'),
                                   dict(type='LoadAnnotations', with_bbox=True),
                                   dict(type='ChipGenerator')])
    t = ds.plan_epoch(0, 0)[0]
    r = ds[t]
    assert r['img'].shape == (256, 256, 3) and r['chip'] == t.chip.box
    assert osp.basename(r['img_path']).endswith(('.jpg', '.png'))
