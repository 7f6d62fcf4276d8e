"""How far would a picows transport move argus? Receive the same frames with picows,
bare, and with argus' own receive path on top (provider session + pipeline), no websockets."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from argus_cli.client.pipeline import Pipeline
from argus_cli.protocol.argus import ArgusSession

SUBSCRIBE = b'{"op":"subscribe","id":"cli-1","symbols":["AAPL"],"data_types":["price"]}'


async def picows_rate(url: str, count: int, with_argus: bool) -> float | None:
    try:
        from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect
    except ImportError:
        return None
    provider = ArgusSession()
    pipeline = Pipeline(provider.source)
    pipeline.track("cli-1", True)  # the path, not the socket

    def ingest(payload: bytes) -> list[dict[str, Any]]:
        now = time.time()
        return pipeline.process(provider.receive(payload, now).events, now)

    state: dict[str, Any] = {"n": 0, "t0": 0.0, "t1": 0.0}
    done = asyncio.Event()

    class Listener(WSListener):  # type: ignore[misc]
        def on_ws_connected(self, transport: WSTransport) -> None:
            transport.send(WSMsgType.TEXT, SUBSCRIBE)

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type != WSMsgType.TEXT:
                return
            payload = frame.get_payload_as_bytes()
            if with_argus:
                batch = ingest(payload)
                got = sum(1 for m in batch if m.get("type") == "price")
            else:
                got = 1 if payload.startswith(b'{"type":"price"') else 0
            if got:
                if state["n"] == 0:
                    state["t0"] = time.perf_counter()
                state["n"] += got
                if state["n"] >= count:
                    state["t1"] = time.perf_counter()
                    done.set()

    transport, _ = await ws_connect(Listener, url)
    await asyncio.wait_for(done.wait(), 120)
    transport.disconnect()
    return (count - 1) / (state["t1"] - state["t0"])
