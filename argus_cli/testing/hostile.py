"""A hostile argus server for tests: speaks the protocol, sends whatever it is told.

It answers the handshake (optionally checking a key or refusing with a status),
sends ``welcome`` (with a chosen ``connection_id`` and ``epoch``), answers
``subscribe`` with ``subscribed`` for the ids asked, then plays a *script*: a
list of frames (dicts, lists of dicts, or raw ``str``/``bytes``) sent in order
on every subscribe, with ``{sub}`` in strings replaced by the subscription id.
``list_symbols`` and ``ping`` get scripted answers too. Each connection's
received ops are kept, so tests can check what the client sent (resume points).

Real sockets on 127.0.0.1, port 0::

    async with HostileServer(script=[price("AAPL", seq=1, price=1e308)]) as server:
        client = WebSocketClient(ConnectionConfig(url=server.url))
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

__all__ = ["HostileServer", "Script", "book", "gap", "price", "volume"]

Frame = dict[str, Any] | list[Any] | str | bytes
Script = Sequence[Frame]


def price(symbol: str, seq: int, price: float = 100.0, **extra: Any) -> dict[str, Any]:
    return {
        "type": "price",
        "sub": "{sub}",
        "symbol": symbol,
        "price": price,
        "bid": price - 0.01,
        "ask": price + 0.01,
        "timestamp": 1764000000.0 + seq,
        "seq": seq,
        **extra,
    }


def volume(symbol: str, seq: int, size: float = 100, **extra: Any) -> dict[str, Any]:
    return {
        "type": "volume",
        "sub": "{sub}",
        "symbol": symbol,
        "volume": size,
        "total_volume": size * seq,
        "timestamp": 1764000000.0 + seq,
        "seq": seq,
        **extra,
    }


def book(symbol: str, seq: int, levels: int = 2, **extra: Any) -> dict[str, Any]:
    return {
        "type": "orderbook",
        "sub": "{sub}",
        "symbol": symbol,
        "bids": [[100.0 - i * 0.01, 10] for i in range(levels)],
        "asks": [[100.01 + i * 0.01, 10] for i in range(levels)],
        "timestamp": 1764000000.0 + seq,
        "seq": seq,
        **extra,
    }


def gap(symbol: str, from_seq: int, to_seq: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "gap",
        "symbol": symbol,
        "from_seq": from_seq,
        "to_seq": to_seq,
        "reason": "not_in_buffer",
        **extra,
    }


def _fill(frame: Any, sub: str) -> Any:
    if isinstance(frame, str):
        return frame.replace("{sub}", sub)
    if isinstance(frame, dict):
        return {k: _fill(v, sub) for k, v in frame.items()}
    if isinstance(frame, list):
        return [_fill(v, sub) for v in frame]
    return frame


@dataclass
class HostileServer:
    script: Script = ()
    connection_id: str = "hostile-1"
    epoch: str | None = None
    symbols: Sequence[Any] = ("AAPL",)
    refuse_status: int | None = None
    refuse_body: str = "no\n"
    refuse_headers: dict[str, str] = field(default_factory=dict)
    close_after_script: tuple[int, str] | None = None  # close code and reason
    error_for_subscribe: dict[str, Any] | None = None  # sent instead of "subscribed"
    answer_subscribe: bool = True  # False: never answer a subscribe (nor play the script)
    on_connect: Callable[[HostileServer], None] | None = None
    ops: list[list[dict[str, Any]]] = field(default_factory=list)  # per connection
    headers: list[list[tuple[str, str]]] = field(default_factory=list)
    _server: Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"ws://{host}:{port}/ws"

    async def __aenter__(self) -> HostileServer:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            compression=None,
            max_size=None,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self.headers.append(list(request.headers.raw_items()))
        if self.refuse_status is not None:
            response = connection.respond(self.refuse_status, self.refuse_body)
            for name, value in self.refuse_headers.items():
                response.headers[name] = value
            return response
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        ops: list[dict[str, Any]] = []
        self.ops.append(ops)
        if self.on_connect is not None:
            self.on_connect(self)
        welcome: dict[str, Any] = {
            "type": "welcome",
            "protocol": 1,
            "connection_id": self.connection_id,
            "server_time": 1764000000.0,
            "heartbeat_interval": 30,
        }
        if self.epoch is not None:
            welcome["epoch"] = self.epoch
        try:
            await ws.send(json.dumps(welcome))
            async for raw in ws:
                op = json.loads(raw)
                ops.append(op)
                await self._answer(ws, op)
        except ConnectionClosed:
            pass

    async def _answer(self, ws: ServerConnection, op: dict[str, Any]) -> None:
        kind = op.get("op")
        if kind == "subscribe":
            if not self.answer_subscribe:
                return
            sub = str(op.get("id"))
            if self.error_for_subscribe is not None:
                await ws.send(json.dumps(_fill(self.error_for_subscribe, sub)))
                return
            reply = {
                "type": "subscribed",
                "id": sub,
                "symbols": op.get("symbols"),
                "data_types": op.get("data_types"),
                "update_frequency": op.get("update_frequency", "realtime"),
            }
            await ws.send(json.dumps(reply))
            for frame in self.script:
                filled = _fill(frame, sub)
                await ws.send(filled if isinstance(filled, str | bytes) else json.dumps(filled))
                await asyncio.sleep(0)
            if self.close_after_script is not None:
                await ws.close(*self.close_after_script)
        elif kind == "unsubscribe":
            await ws.send(json.dumps({"type": "unsubscribed", "id": op.get("id")}))
        elif kind == "list_symbols":
            await ws.send(json.dumps({"type": "symbols", "symbols": list(self.symbols)}))
        elif kind == "ping":
            await ws.send(json.dumps({"type": "pong", "nonce": op.get("nonce")}))
