"""``shiplanectl``: the command-line client (imports the SDK's client, never the server).

Run it as ``shiplanectl`` (the console script) or ``python -m shiplane_sdk.ctl``.
See docs/cli.md for the commands, the configuration and the exit codes.
"""

from shiplane_sdk.ctl.main import EXIT_CODES, main, run

__all__ = ["EXIT_CODES", "main", "run"]
