# SNIPER with negative chips (step 3): up to 2 negative chips per image and epoch, mined
# from the proposals of configs/sniper_rpn_r101.py (see README, "Negative chips").
_base_ = './sniper_faster_r101.py'
_proposals = 'data/coco/proposals_train2017.npz'
sniper = dict(neg_chips_per_img=2, proposals=_proposals)
train_dataloader = dict(dataset=dict(neg_chips_per_img=2,
                                     negatives=dict(proposals=_proposals)))
