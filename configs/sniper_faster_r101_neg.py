# SNIPER with negative chips (step 3): up to 2 negative chips per image and epoch, mined
# from the proposals of configs/sniper_rpn_r101.py (see README, "Negative chips").
_base_ = './sniper_faster_r101.py'
sniper = dict(neg_chips_per_img=2, proposals='data/coco/proposals_train2017.npz')
