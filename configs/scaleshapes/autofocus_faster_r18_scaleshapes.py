# AutoFocus on ScaleShapes, on the CPU: sniper_faster_r18_scaleshapes.py (its chips, ranges,
# schedule) plus the FocusPixel branch, and the coarse-to-fine test pyramid (docs/user_guides/autofocus.md).
#   python tools/train.py configs/scaleshapes/autofocus_faster_r18_scaleshapes.py
#   python tools/test.py configs/scaleshapes/autofocus_faster_r18_scaleshapes.py CKPT --tta
# Scaled for ScaleShapes as its `sniper` settings were (docs/design/architecture.md, "Settings for
# ScaleShapes"): 256 chips for COCO's 512, so the reference's CHIP-pixel focus thresholds
# (5, 64, 90) and minimum FocusChip sizes (16 and 20 cells of stride 16 = 256 and 320
# pixels) are halved: (2.5, 32, 45) and 8 and 10 cells (128 and 160 pixels). A minimum
# FocusChip then maps, as in the reference, to about one training chip at the next scale
# (128 px at the coarsest scale x2 = 256 at the middle one), and `small` = 32 chip pixels
# is the coarsest level's lower test bound in its input pixels (64 x 0.5), as the
# reference's 64 is about COCO's (75 x 0.8).
_base_ = './sniper_faster_r18_scaleshapes.py'

model = dict(
    type='AutoFocusFasterRCNN',
    focus_head=dict(type='FocusPixelHead', feat_channels=64, num_convs=2, level=2, stride=16,
                    dc_low=2.5, small=32, dc_high=45, loss_weight=1.0))

tta_model = dict(
    type='AutoFocusTTAModel',
    # coarsest (240, 400) -> middle (480, 800), middle -> finest (960, 1400); the reference
    # thresholds and dilation, min_size halved (see above).
    focus_steps=[dict(threshold=0.02, dilation=3, min_size=8),
                 dict(threshold=0.2, dilation=3, min_size=10)],
    chip_cfg=dict(chip_size=1024, overlap=None, batch_size=4, border_tol=2.0))
