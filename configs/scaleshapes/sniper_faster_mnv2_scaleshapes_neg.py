# sniper_faster_mnv2_scaleshapes.py with negative chips, from the proposals that
# tools/extract_proposals.py wrote for configs/scaleshapes/sniper_rpn_r18_scaleshapes.py.
_base_ = './sniper_faster_mnv2_scaleshapes.py'
sniper = dict(neg_chips_per_img=2, proposals='work_dirs/scaleshapes_rpn/proposals_train.npz',
              neg_min_proposals=(25, 10, 10))
