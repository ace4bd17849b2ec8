"""Scale advisor: SNIPER scales, valid ranges and chip settings from a data set's boxes.

Reads a COCO-format annotation file (no pixels), proposes a complete SNIPER setting such
that the objects fall in the detector's comfortable size band at one level at least, at the
least pixel cost of positive chips, and reports coverage and cost next to the COCO defaults
(``tools/analysis_tools/advise_scales.py``, ``docs/user_guides/advisor.md``). It is built on the
chip engine (:mod:`mmsniper.chips`: settings, scale factors, the range test, the cover's rules,
the planner) and implements none of its rules itself.

- :mod:`~mmsniper.advisor.annotations`: the annotation file as a :class:`BoxSet`;
- :mod:`~mmsniper.advisor.search`: coverage, pixel cost, the proposal;
- :mod:`~mmsniper.advisor.report`: the table, the one-edit ``sniper`` fragment
  (its plot: :mod:`mmsniper.visualization.advisor`).
"""
from ..generated.synthetic import synthetic_coco
from .annotations import BoxSet, load_coco_boxes, parse_coco
from .report import (
    ADVISED_KEYS,
    config_snippet,
    evaluate_setting,
    format_report,
)
from .search import (
    COCO_DEFAULTS,
    Advice,
    ChipCost,
    Coverage,
    cost_sample,
    coverage,
    make_setting,
    predict_chip_cost,
    propose_setting,
    reference_factors,
)

__all__ = ['BoxSet', 'load_coco_boxes', 'parse_coco', 'ADVISED_KEYS', 'config_snippet',
           'evaluate_setting', 'format_report', 'COCO_DEFAULTS',
           'Advice', 'ChipCost', 'Coverage', 'cost_sample', 'coverage', 'make_setting',
           'predict_chip_cost', 'propose_setting', 'reference_factors', 'synthetic_coco']
