"""1000 random mutations of a genuine checkpoint (fixed seed): each loads or is refused with
UnsafeCheckpointError; none crashes the process, takes more than 10 s or more than 256 MB
(worker subprocesses under SIGALRM and RLIMIT_AS; see mmsniper/engine/checkpoint_fuzz.py).
The larger run is ``tools/analysis_tools/fuzz_checkpoints.py --count 20000``."""
from __future__ import annotations


def test_1000_mutated_checkpoints_load_or_are_refused():
    from mmsniper.engine.checkpoint_fuzz import run_fuzz

    summary = run_fuzz(count=1000, seed=0, workers=1, timeout=10, memory_mb=256)
    assert summary['failures'] == [], summary['failures'][:20]
    assert summary['loaded'] + summary['refused'] == 1000
    # both outcomes occur: the mutations reach past the first check, and the loader refuses
    assert summary['loaded'] > 50 and summary['refused'] > 500, summary


def test_mutants_are_reproducible():
    from mmsniper.engine.checkpoint_fuzz import genuine_checkpoint, mutant

    genuine = {'zip': genuine_checkpoint(), 'legacy': genuine_checkpoint(legacy=True)}
    assert mutant(0, 17, genuine) == mutant(0, 17, genuine) != mutant(0, 18, genuine)
