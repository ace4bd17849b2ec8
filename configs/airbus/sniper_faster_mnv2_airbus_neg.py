# sniper_faster_mnv2_airbus.py with negative chips, from the proposals that
# tools/extract_proposals.py wrote for sniper_rpn_mnv2_airbus.py. Two negative chips per
# image and epoch and the reference's 25 proposals at the finest (here the only) level:
# the ScaleShapes negative config's values, not tuned on this data.
_base_ = './sniper_faster_mnv2_airbus.py'
sniper = dict(neg_chips_per_img=2, proposals='work_dirs/airbus_rpn/proposals_train.npz',
              neg_min_proposals=(25, ))
