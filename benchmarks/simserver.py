"""The simulator for the fan-out benchmark: fast market, a send queue deep enough
that a benchmark receiver is never cut off (1013). Prints the URL."""

from __future__ import annotations

import asyncio
import sys

from argus_cli.sim import Simulator, SimulatorConfig


async def main(rate: float, symbols: list[str]) -> None:
    config = SimulatorConfig(
        port=0, rate=rate, symbols=symbols, api_key="", send_queue=2_000_000, seed=1
    )
    async with Simulator(config) as sim:
        print(sim.url, flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1]), sys.argv[2].split(",")))
