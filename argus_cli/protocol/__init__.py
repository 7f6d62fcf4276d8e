"""Pure protocol code: the provider seam and its implementations. No I/O.

- ``session``: the ``ProviderSession`` interface (frames in; events, replies,
  refusals, errors and actions out) and its small value types.
- ``argus``: the argus protocol (docs/PROTOCOL.md) as the first provider.
- ``codec`` / ``server_codec``: the argus wire format, client and server side.
- ``rules``: docs/PROTOCOL.md's value rules, error and close codes.

A new venue is one new module here implementing ``ProviderSession``.
"""

from __future__ import annotations

from .codec import (
    Message,
    decode_frame,
    encode_list_symbols,
    encode_ping,
    encode_subscribe,
    encode_unsubscribe,
)

__all__ = [
    "Message",
    "decode_frame",
    "encode_list_symbols",
    "encode_ping",
    "encode_subscribe",
    "encode_unsubscribe",
]
