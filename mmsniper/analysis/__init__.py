"""Measurement bodies behind ``tools/analysis_tools/``: the benchmarks and the helpers they
share (``benchmark.py``), the sliced-inference benchmark against SAHI (``benchmark_sliced.py``),
the assignment counts (``assignment_counts.py``), the kill-and-resume fault injection
(``kill_resume.py``) and COCO AP by object-size band (``size_bands.py``). Nothing here is
imported by the package's own rooms except the channels-last input hook that proposal
extraction uses."""
