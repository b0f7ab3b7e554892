"""The ``logo-ann`` command: ``main`` parses the command line; one module per group of commands."""

from common.cli.commands import main

__all__ = ["main"]
