"""Options several commands share, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

Profile = Annotated[
    str, typer.Option("--profile", "-p", envvar="ARGUS_PROFILE", help="Profile name.")
]
ConfigFile = Annotated[
    str | None, typer.Option("--config", envvar="ARGUS_CONFIG", help="A profile file.")
]
Url = Annotated[str | None, typer.Option("--url", help="Server URL [env: ARGUS_URL].")]
NoColor = Annotated[bool, typer.Option("--no-color", help="No colours (NO_COLOR works too).")]
