"""Importable entry points behind ``tools/train.py`` and ``tools/test.py``."""
from .cli import test_cli, train_cli

__all__ = ['train_cli', 'test_cli']
