"""Chip tickets: what the chip-aware sampler hands to the data loader.

The ticket type lives in the chip engine (:class:`mmsniper.chips.ChipTicket`, made by
:func:`mmsniper.chips.make_ticket` from the settings); it is re-exported here, next to the
sampler and the transforms that pass it on.
"""
from ..chips.plan import ChipTicket, make_ticket

__all__ = ['ChipTicket', 'make_ticket']
