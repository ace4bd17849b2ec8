"""The entry points a user calls from Python, as ``mmdet.apis``: training and testing
(``tools/train.py``, ``tools/test.py``), inference on image files (``tools/infer.py``) and
proposal extraction for negative chips (``tools/extract_proposals.py``)."""
from .cli import check_data_present, test_cli, train_cli
from .inference import infer, init_inference_model
from .proposals import extract_proposals

__all__ = ['train_cli', 'test_cli', 'check_data_present', 'infer', 'init_inference_model',
           'extract_proposals']
