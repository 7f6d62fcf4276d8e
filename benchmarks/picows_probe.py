"""picows' own receive loop on the same frames, doing nothing: the floor under
argus's default transport (a reference row of ``make bench``)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

SUBSCRIBE = b'{"op":"subscribe","id":"cli-1","symbols":["AAPL"],"data_types":["price"]}'


async def picows_rate(url: str, count: int) -> float | None:
    try:
        from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect
    except ImportError:
        return None
    state: dict[str, Any] = {"n": 0, "t0": 0.0, "t1": 0.0}
    done = asyncio.Event()

    class Listener(WSListener):  # type: ignore[misc]
        def on_ws_connected(self, transport: WSTransport) -> None:
            transport.send(WSMsgType.TEXT, SUBSCRIBE)

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type != WSMsgType.TEXT:
                return
            payload = frame.get_payload_as_bytes()
            if payload.startswith(b'{"type":"price"'):
                if state["n"] == 0:
                    state["t0"] = time.perf_counter()
                state["n"] += 1
                if state["n"] >= count:
                    state["t1"] = time.perf_counter()
                    done.set()

    transport, _ = await ws_connect(Listener, url)
    await asyncio.wait_for(done.wait(), 120)
    transport.disconnect()
    return (count - 1) / (state["t1"] - state["t0"])
