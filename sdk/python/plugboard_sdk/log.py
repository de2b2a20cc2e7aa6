"""Writing to the server log (always allowed); every line is tagged with the plugin id."""

from __future__ import annotations

from . import _host

LEVELS = ("trace", "debug", "info", "warn", "error")


def write(level: str, message: str) -> None:
    """Writes one line at `level` (`trace`, `debug`, `info`, `warn` or `error`)."""
    if level not in LEVELS:
        raise ValueError(f"unknown log level `{level}`; use one of {', '.join(LEVELS)}")
    _host.current("log").log_write(level, str(message))


def trace(message: str) -> None:
    write("trace", message)


def debug(message: str) -> None:
    write("debug", message)


def info(message: str) -> None:
    write("info", message)


def warn(message: str) -> None:
    write("warn", message)


warning = warn


def error(message: str) -> None:
    write("error", message)
