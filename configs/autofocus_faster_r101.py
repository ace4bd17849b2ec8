# AutoFocus (Najibi, Singh, Davis, ICCV 2019) on SNIPER's Faster R-CNN R-101-FPN, COCO 2017:
# the SNIPER config plus a FocusPixel branch trained jointly with the detector, and a test
# pyramid that runs coarse to fine, each finer scale only inside FocusChips (docs/user_guides/autofocus.md).
#   mim train mmsniper configs/autofocus_faster_r101.py --launcher pytorch --gpus 8
#   mim test mmsniper configs/autofocus_faster_r101.py --checkpoint X --tta
# Training data, schedule and the `sniper` block (test scales and ranges included) are
# sniper_faster_r101.py's; change SNIPER values there or with `sniper = dict(...)` here.
_base_ = './sniper_faster_r101.py'

model = dict(
    type='AutoFocusFasterRCNN',
    # FocusPixel targets per chip, sqrt(w*h) in CHIP pixels: (dc_low, small) positive,
    # [small, dc_high) and <= dc_low ignored, the rest negative (reference 5, 64, 90). FPN
    # level 2 = stride 16, the reference's: its FocusChip sizes are counted in those cells.
    focus_head=dict(type='FocusPixelHead', feat_channels=256, num_convs=2, level=2, stride=16,
                    dc_low=5, small=64, dc_high=90, loss_weight=1.0))

tta_model = dict(
    type='AutoFocusTTAModel',
    # Per coarse -> fine step: (480, 512) -> (800, 1280), then (800, 1280) -> (1400, 2000).
    # threshold on the FocusPixel probability, dilation (square, cells), min_size (cells of
    # stride 16 at the coarser scale: 256 and 320 pixels). Reference values.
    focus_steps=[dict(threshold=0.02, dilation=3, min_size=16),
                 dict(threshold=0.2, dilation=3, min_size=20)],
    # batch_size: FocusChips per forward pass; border_tol: a detection within this many
    # scaled pixels of a FocusChip side inside the image is a cut object and dropped.
    chip_cfg=dict(chip_size=1024, overlap=None, batch_size=4, border_tol=2.0))
