"""The sliced-inference benchmark (mmsniper against SAHI) on one small generated image."""
from __future__ import annotations

import numpy as np

from mmsniper.analysis.benchmark_sliced import agreement, benchmark_sliced, format_rows


def test_benchmark_runs_and_both_sides_agree(tmp_path):
    # 256 x 256 in 128-px slices, overlap 0.2: 3 x 3 slices; random weights, score 0.05.
    result = benchmark_sliced(['generated:256'], str(tmp_path), slice_size=128,
                              score_thr=0.05, standard_pred=(False, True), batch_size=4,
                              threads=1, in_process=True, log=lambda *_: None)
    assert [r['standard_pred'] for r in result['rows']] == [False, True]
    for row, pair in zip(result['rows'], result['arms']):
        ours, sahi = pair['mmsniper']['images'][0], pair['sahi']['images'][0]
        assert len(ours['scores']) > 10 and len(sahi['scores']) > 10
        # Same slices, model, merger: the same detections up to float rounding.
        assert row['matched_share'] >= 0.99, row
        assert row['score_diff_max'] < 1e-3
        for arm in ('mmsniper', 'sahi'):
            r = row[arm]
            assert r['s_per_img'] > r['forward_s_per_img'] > 0
            assert r['merge_s_per_img'] > 0
    # The whole-image level adds detections on both sides.
    assert result['rows'][1]['mmsniper']['forward_s_per_img'] > 0
    text = format_rows(result)
    assert 'mmsniper' in text and 'matched at IoU 0.9' in text


def test_agreement_counts_one_to_one_matches():
    a = dict(boxes=[[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 10, 10]], scores=[0.9, 0.8, 0.7],
             labels=[0, 0, 1])
    b = dict(boxes=[[0, 0, 10, 10.5], [20, 20, 30, 30]], scores=[0.85, 0.8], labels=[0, 1])
    g = agreement(a, b)
    assert g['matched'] == 1 and g['n_a'] == 3 and g['n_b'] == 2
    assert np.isclose(g['matched_share'], 1 / 3) and np.isclose(g['score_diff_mean'], 0.05)
