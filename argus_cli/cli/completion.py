"""``argus completion SHELL``: the shell's completion script for argus.

The script calls ``argus`` back with ``_ARGUS_COMPLETE`` set (typer's completion
classes, registered by ``app.main``): commands, options, profile names after
``--profile``, and ``@NAME`` watchlists in place of a symbol.
"""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["COMPLETION_HELP", "SHELLS", "completion", "register"]

SHELLS = ("bash", "zsh", "fish", "powershell")
COMPLETION_HELP = (
    "Print the shell completion script for argus (bash, zsh, fish or powershell).\n\n"
    "\b\nExamples:\n"
    '  eval "$(argus completion bash)"          # this shell; add it to ~/.bashrc to keep it\n'
    '  argus completion zsh > "${fpath[1]}/_argus"\n'
    "  argus completion fish > ~/.config/fish/completions/argus.fish\n"
)


def register() -> None:
    """Install typer's completion classes (what ``add_completion`` would do; argus
    keeps typer's ``--install-completion`` options out of every command's help)."""
    from typer._completion_classes import completion_init  # typer has no public name

    completion_init()


def completion(
    shell: Annotated[str, typer.Argument(metavar="SHELL", help="bash, zsh, fish or powershell.")],
) -> None:
    """Print the shell completion script for argus."""
    from typer._completion_shared import get_completion_script  # no public name either

    from .app import COMPLETE_VAR

    if shell not in SHELLS:
        raise typer.BadParameter(f"{shell!r} is not one of {', '.join(SHELLS)}", param_hint="SHELL")
    print(get_completion_script(prog_name="argus", complete_var=COMPLETE_VAR, shell=shell))
