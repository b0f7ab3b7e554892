"""What every ``logo-ann`` command shares: the container, help with defaults, checked numbers,
the data folder, and one-line errors that say what to do."""

from __future__ import annotations

import argparse
import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.errors import CommandError
from common.settings import Settings

if TYPE_CHECKING:
    from common.bootstrap import Container


def container() -> Container:
    """The process's container (``common.bootstrap.get_container``): the one place a command gets
    its adapters from. Imported on first use, so ``--help`` loads no adapter module."""
    from common.bootstrap import get_container

    return get_container()


class Formatter(argparse.HelpFormatter):
    """Appends "(default: X)" to an option's help unless it states its default or has none."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text or default is None or default is False or default == argparse.SUPPRESS or not text:
            return text  # (identity: a default of 0 is shown, although 0 == False)
        return f"{text} (default: {' '.join(map(str, default)) if isinstance(default, list) else default})"


def command(sub: Any, name: str, text: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A sub-command whose ``--help`` starts with ``text`` and shows every option's default."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=text, description=text, formatter_class=Formatter, **kwargs
    )
    return parser


def number(kind: Callable[[str], Any], low: float | None = None, high: float | None = None,
           low_open: bool = False) -> Callable[[str], Any]:  # fmt: skip
    """An argparse type: ``kind(text)`` within [low, high] (``low_open``: (low, high])."""
    opening = "(" if low_open else "["
    span = f"{opening}{'-inf' if low is None else low}, {'inf' if high is None else high}]"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            expected = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        too_low = low is not None and (value <= low if low_open else value < low)
        if too_low or (high is not None and value > high) or value != value:  # NaN too
            raise argparse.ArgumentTypeError(f"must be in {span}, got {text}")
        return value

    return parse


def home_text(settings: Settings) -> str:
    """Where the data is, and how to choose another folder."""
    return f"{settings.home.absolute()} (LOGO_ANN_HOME)"


def check_home(settings: Settings, creates: bool) -> str | None:
    """A reading command fails on a data folder that does not exist; a writing one creates it
    and returns a line announcing it (``None`` when the folder exists or is not used)."""
    here = settings.home.absolute()
    origin = _origin(settings)
    if settings.home.exists() and not settings.home.is_dir():
        raise CommandError(f"the data folder {here} ({origin}) is a file: set LOGO_ANN_HOME to a folder")
    if settings.store != "sqlite" or settings.sqlite_path.exists():
        return None
    if creates:
        return f"new data folder {here} ({origin}; set LOGO_ANN_HOME to use another)"
    raise CommandError(
        f"no data in {here} ({origin}): run `logo-ann ingest PATH` first, "
        "or set LOGO_ANN_HOME to the folder that holds your data (make run uses .logo-ann in the repository)"
    )


def _origin(settings: Settings) -> str:
    """Why this folder: the variable, or the default relative to the current folder."""
    named = os.environ.get("LOGO_ANN_HOME")
    if named and Path(named).absolute() == settings.home.absolute():
        return f"LOGO_ANN_HOME={named}"
    if not named and settings.home == Path(".logo-ann"):
        return f"LOGO_ANN_HOME is not set: .logo-ann in the current folder {Path.cwd()}"
    return "LOGO_ANN_HOME"


WHAT_TO_DO = {
    errno.ENOENT: "check the path",
    errno.EACCES: "check its permissions",
    errno.EISDIR: "name a file, not a folder",
    errno.ENOTDIR: "check the path",
}


def os_error_line(exc: OSError) -> str:
    """``cannot read PATH: reason; what to do`` for a file the command was given."""
    where = exc.filename if exc.filename is not None else "a file"
    reason = exc.strerror or str(exc)
    advice = WHAT_TO_DO.get(exc.errno or 0, "check the path and try again")
    return f"cannot read {where}: {reason}; {advice}"


def port_in_use_line(host: str, port: int) -> str:
    return (
        f"port {port} on {host} is already in use (another `logo-ann serve`?): stop that process, "
        f"or choose another port with --port (make run: PORT=...)"
    )
