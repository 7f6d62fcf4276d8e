"""picows' own receive loop on the same frames, doing (almost) nothing: the floor
under argus's default transport (reference rows of ``make bench``)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

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


async def picows_latency(url: str, seconds: float) -> dict[str, float] | None:
    """Send time (in the message) to a bare picows callback that parses the message:
    the machine's floor for argus's latency rows (sender pacing, wake-ups, loopback)."""
    try:
        from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect
    except ImportError:
        return None
    samples: list[float] = []

    class Listener(WSListener):  # type: ignore[misc]
        def on_ws_connected(self, transport: WSTransport) -> None:
            transport.send(WSMsgType.TEXT, SUBSCRIBE)

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type != WSMsgType.TEXT:
                return
            message = orjson.loads(frame.get_payload_as_bytes())
            if message.get("type") == "price":
                samples.append(time.time() - message["timestamp"])

    transport, _ = await ws_connect(Listener, url)
    await asyncio.sleep(seconds + 0.5)
    transport.disconnect()
    kept = sorted(samples[len(samples) // 10 :])  # the warm-up dropped, as argus's rows

    def at(p: float) -> float:
        return round(kept[min(len(kept) - 1, int(p / 100 * len(kept)))] * 1000, 3)

    return {"p50_ms": at(50), "p99_ms": at(99), "p999_ms": at(99.9), "samples": len(kept)}
