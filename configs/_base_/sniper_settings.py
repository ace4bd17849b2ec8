# SNIPER settings, in one place. The owners read them when this file is read:
#   train_dataloader.dataset (SniperDataset): scales, train_ranges, chip_size, stride,
#       neg_chips_per_img, negatives        (configs/_base_/sniper_pipeline.py)
#   tta_model (SniperTTAModel): test_ranges; tta_pipeline: test_scales
#                                          (configs/_base_/sniper_tta.py)
# A child config that changes a value must change it in the owner too, e.g.
#   sniper = dict(chip_size=384)
#   train_dataloader = dict(dataset=dict(chip_size=384))
# tools/train.py and tools/test.py stop with an error naming the key when the two differ.
custom_imports = dict(imports=['mmsniper'], allow_failed_imports=False)

sniper = dict(
    # Training levels, resolution form (short, long); (-1, L): longest side L.
    scales=[(1400, 2000), (800, 1280), (-1, 512)],
    # What each level is responsible for, ORIGINAL pixels of sqrt(w*h); -1: open end.
    train_ranges=[(-1, 80), (32, 150), (120, -1)],
    chip_size=512,
    stride=32,
    # Test pyramid and the detections each scale keeps (reference values).
    test_scales=[(1400, 2000), (800, 1280), (480, 512)],
    test_ranges=[(-1, 90), (32, 180), (75, -1)],
    # Negative chips (issue: negative chip mining); 0 switches them off.
    neg_chips_per_img=0,
    proposals=None,
    neg_min_proposals=(25, 10, 10),
)
