"""The typer application: the root options and the commands, each loaded when used.

A command's module is imported only when that command runs or its ``--help`` is
asked (or ``argus --help`` lists them all): ``argus stream`` never imports the
simulator behind ``argus serve``, nor ``argus serve`` the client. The command
modules keep their own heavy imports (the client, rich's Live) inside the code
that runs, so that their signatures, which typer reads, load quickly.
"""

from __future__ import annotations

import functools
import gc
import importlib
from collections.abc import Callable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

from .. import __version__
from . import exit_codes

if TYPE_CHECKING:
    from typer._click import Command, Context

__all__ = ["COMMANDS", "app"]

# name: (module under argus_cli.cli, its command function or typer app, its help text
# if not the function's docstring), in the order ``argus --help`` lists them
COMMANDS: dict[str, tuple[str, str, str | None]] = {
    "stream": ("stream", "stream", "STREAM_HELP"),
    "quote": ("quote", "quote", "QUOTE_HELP"),
    "record": ("record", "record", "RECORD_HELP"),
    "stats": ("stats", "stats", "STATS_HELP"),
    "serve": ("serve", "serve", "SERVE_HELP"),
    "replay": ("replay", "replay", "REPLAY_HELP"),
    "info": ("info", "info", "INFO_HELP"),
    "symbols": ("symbols", "symbols", "SYMBOLS_HELP"),
    "profiles": ("profiles", "app", None),
    "watchlists": ("watchlists", "watchlists_command", "WATCHLISTS_HELP"),
    "nats": ("nats", "nats_app", None),
    "completion": ("completion", "completion", "COMPLETION_HELP"),
}


def _settings() -> dict[str, Any]:
    return {
        "add_completion": False,
        "pretty_exceptions_enable": False,
        "rich_markup_mode": None,
        "context_settings": {"help_option_names": ["-h", "--help"]},
    }


def load(name: str) -> Command:
    """Import the command's module and build its click command as ``app.command()``
    or ``app.add_typer()`` on the root would have (same settings, same error boundary)."""
    module_name, attribute, help_attribute = COMMANDS[name]
    module = importlib.import_module(f"{__package__}.{module_name}")
    target = getattr(module, attribute)
    holder = typer.Typer(**_settings())
    holder.callback()(_nothing)  # always a group, whose commands[name] is the one built
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        command = _collecting(exit_codes.boundary(target))
        help_text = getattr(module, help_attribute) if help_attribute else None
        holder.command(name, help=help_text)(command)
    built = typer.main.get_command(holder)
    assert isinstance(built, TyperGroup)
    command = built.commands[name]
    _plain_arguments(command)
    return command


class _PlainArgument(TyperArgument):
    """A positional argument shown as users write it: ``SYMBOL...`` in the usage line
    and the help, not typer's ``{symbols}...`` and ``<list[str]>``."""

    def _label(self) -> str:
        return self.metavar or (self.name or "").upper()

    def _usage_display_name(self) -> str:
        name = self._label() + ("..." if self.nargs != 1 else "")
        return name if self.required else f"[{name}]"

    def _rich_display_name(self) -> str:
        return self._label() + ("..." if self.nargs != 1 else "")

    def display_type_rich(self, ctx: Context) -> str | None:
        return None


def _plain_arguments(command: Command) -> None:
    """Show ``command``'s arguments (and its subcommands', for a group) plainly."""
    for param in command.params:
        if type(param) is TyperArgument:
            param.__class__ = _PlainArgument
    for sub in getattr(command, "commands", {}).values():
        _plain_arguments(sub)


def _collecting(command: Callable[..., Any]) -> Callable[..., Any]:
    """``command``, turning the cyclic GC back on as it starts (``app.main`` holds it off
    while typer, pydantic and the command load), past the objects made so far: they live
    as long as the process and are never traced again."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        if not gc.isenabled():
            gc.freeze()
            gc.enable()
        return command(*args, **kwargs)

    return run


def _nothing() -> None:
    """(The holder group's callback: never run.)"""


class _Commands(MutableMapping[str, "Command"]):
    """The group's commands: every name known up front, each built on first access."""

    def __init__(self) -> None:
        self._built: dict[str, Command] = {}

    def __getitem__(self, name: str) -> Command:
        if name not in self._built:
            if name not in COMMANDS:
                raise KeyError(name)
            self._built[name] = load(name)
        return self._built[name]

    def __setitem__(self, name: str, command: Command) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*COMMANDS, *self._built]))

    def __len__(self) -> int:
        return len(set(COMMANDS) | set(self._built))

    def __contains__(self, name: object) -> bool:
        return name in COMMANDS or name in self._built


class LazyGroup(TyperGroup):
    """typer's group over ``_Commands``: names (for usage errors' suggestions and the
    listing) cost nothing; a command is imported when click resolves it."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands()

    def get_help_option(self, ctx: Context) -> TyperOption | None:
        """typer's ``--help``, unset meaning False rather than None: typer (0.29) coerces
        a None through a pydantic adapter, and importing pydantic for the root's unset
        ``--help`` would double the time of ``argus stream --help``."""
        option = super().get_help_option(ctx)
        if option is not None and option.default is None:
            option.default = False
        return option


app = typer.Typer(
    name="argus",
    help=(
        "Real-time market data in the terminal and in pipelines.\n\n"
        "\b\nExamples:\n"
        "  argus stream --demo AAPL MSFT     # try it: the built-in simulator\n"
        "  argus serve                       # a simulator for other commands to use\n"
        "  argus stream AAPL --json | jq .   # JSON lines when piped\n"
        "  argus COMMAND -h                  # each command's options and examples\n\n"
        f"{exit_codes.EXIT_CODES_HELP}"
    ),
    no_args_is_help=True,
    cls=LazyGroup,
    **_settings(),
)


def _version(value: bool) -> None:
    if value:
        print(f"argus {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Real-time market data in the terminal and in pipelines."""
