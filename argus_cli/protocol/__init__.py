"""Pure protocol code: the argus wire codec (and, later, one module per provider).

Nothing here performs I/O: bytes and dicts in, messages or errors out.
"""

from __future__ import annotations

from .codec import (
    Message,
    UnknownMessageType,
    decode_frame,
    encode_list_symbols,
    encode_ping,
    encode_subscribe,
    encode_unsubscribe,
)

__all__ = [
    "Message",
    "UnknownMessageType",
    "decode_frame",
    "encode_list_symbols",
    "encode_ping",
    "encode_subscribe",
    "encode_unsubscribe",
]
