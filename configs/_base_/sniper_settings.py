# SNIPER settings, in one place. A child config changes a value with one edit here, e.g.
#   sniper = dict(chip_size=384)
# and training and testing both follow, whichever tool reads the config: the components
# (train_dataloader.dataset, ChipGenerator, the PyramidResize views of tta_pipeline) are
# written WITHOUT these values, and SniperRunner (runner_type below) writes them in when
# the runner is built -- by tools/train.py, tools/test.py [--tta], mim, and MMDetection's
# own tools alike. A component given a value of its own that contradicts `sniper` stops
# with an error naming both keys; an unknown key here is an error with a "did you mean".
# The rules: mmsniper/chips/settings.py (SniperSettings); docs/design/architecture.md.
custom_imports = dict(imports=['mmsniper'], allow_failed_imports=False)
runner_type = 'SniperRunner'

sniper = dict(
    # Training levels, resolution form (short, long); (-1, L): longest side L.
    scales=[(1400, 2000), (800, 1280), (-1, 512)],
    # What each level is responsible for, ORIGINAL pixels of sqrt(w*h); -1: open end.
    train_ranges=[(-1, 80), (32, 150), (120, -1)],
    chip_size=512,
    stride=32,
    # A box drives a chip and is trained on only if it is at least min_size chip pixels
    # wide and high after clipping, with at least min_visible of it inside the chip.
    min_size=10,
    min_visible=0.5,
    # Test pyramid and the detections each scale keeps (reference values).
    test_scales=[(1400, 2000), (800, 1280), (480, 512)],
    test_ranges=[(-1, 90), (32, 180), (75, -1)],
    # Negative chips (README "Negative chips"); 0 switches them off. neg_min_proposals
    # None: the reference's counts (a chip needs more than 25 proposals at the finest
    # level, 10 at the others).
    neg_chips_per_img=0,
    proposals=None,
    neg_min_proposals=None,
)
