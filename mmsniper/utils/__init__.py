"""Small helpers every layer uses (standard library only)."""
from .fileio import atomic_json, atomic_path, atomic_write, is_temp_name, remove_stale_temps

__all__ = ['atomic_json', 'atomic_path', 'atomic_write', 'is_temp_name', 'remove_stale_temps']
