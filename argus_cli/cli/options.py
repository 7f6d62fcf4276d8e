"""Options several commands share, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

Profile = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        envvar="ARGUS_PROFILE",
        help="Profile name [default: the provider's, else dev].",
        show_default=False,
    ),
]
Provider = Annotated[
    str | None,
    typer.Option(
        "--provider",
        help="argus, coinbase, binance, kraken, alpaca or finnhub [env: ARGUS_PROVIDER].",
        show_default=False,
    ),
]
RestUrl = Annotated[
    str | None,
    typer.Option("--rest-url", help="REST base URL where a provider needs one (Binance books)."),
]
ConfigFile = Annotated[
    str | None, typer.Option("--config", envvar="ARGUS_CONFIG", help="A profile file.")
]
Url = Annotated[str | None, typer.Option("--url", help="Server URL [env: ARGUS_URL].")]
NoColor = Annotated[bool, typer.Option("--no-color", help="No colours (NO_COLOR works too).")]
Transport = Annotated[
    str | None,
    typer.Option(
        "--transport",
        help="auto (picows where installed), picows or websockets [env: ARGUS_TRANSPORT].",
        show_default=False,
    ),
]
