"""The `ledger` command: `base` builds the Typer app and its entry point; each other module is an
area (`energy`, `settlement`, `operator`...) that adds its commands with `register(app)`.

Imports run one way: an area imports `ledger.cli.base` (options, settings, output) and, where it
builds on one, a lower area (`registry`, `energy`, `operator`); `base` imports no area (it loads them
by name to register them), which an import-linter contract keeps.
"""

from ledger.cli.base import app, main

__all__ = ["app", "main"]
