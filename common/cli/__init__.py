"""The ``logo-ann`` command: ``main`` parses the command line; one module per group of commands."""

from common.cli.main import main

__all__ = ["main"]
