"""``argus record --from``: the broker is a source like any other."""

from __future__ import annotations

import json
from pathlib import Path

from argus_cli.compressed import read_lines
from argus_cli.sinks.nats import ensure_stream
from argus_cli.testing.nats import NatsServer
from tests.cli.helpers import ThreadedSim, argus_env
from tests.nats.helpers import run, stored


def strip(event: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in event.items() if k not in ("received", "sub")}


async def test_record_from_the_broker_keeps_what_was_published(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    await ensure_stream([nats_server.url])
    env = argus_env(tmp_path)
    with ThreadedSim(rate=300.0) as sim:
        pub = await run(
            ["stream", "AAPL", "--url", sim.url, "--format", "none", "--count", "40",
             "--publish", nats_server.url],
            env,
        )  # fmt: skip
    assert pub.proc is not None and pub.proc.returncode == 0, pub.stderr
    out = tmp_path / "from.jsonl.zst"
    rec = await run(
        ["record", "AAPL", "--from", nats_server.url, "--since", "1h", "--count", "40",
         "-o", str(out)],
        env,
    )  # fmt: skip
    assert rec.proc is not None and rec.proc.returncode == 0, rec.stderr
    recorded = [strip(json.loads(line)) for line in read_lines(out)]
    published = [strip(json.loads(p)) for p, _ in await stored(nats_server.url)]
    assert len(recorded) == 40 and recorded == published
    raw = await run(
        ["record", "AAPL", "--from", nats_server.url, "--raw", "-o", str(tmp_path / "x.jsonl")],
        env,
    )
    assert raw.proc is not None and raw.proc.returncode == 2
    assert b"--raw" in raw.stderr and b"Traceback" not in raw.stderr
