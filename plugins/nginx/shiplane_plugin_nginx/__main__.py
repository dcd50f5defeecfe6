"""``python -m shiplane_plugin_nginx init CONFIG.json``: write the first include file.

nginx can't start with ``include <file>;`` before the file exists, and the router only
changes a running nginx. ``init`` validates the router configuration (the JSON the
router is configured with in Shiplane), writes the include file with all traffic on
the control side if there is none, and prints the lines to add to nginx's configuration.
It does not test or reload nginx.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from shiplane_sdk import PluginError

from shiplane_plugin_nginx.render import http_snippet, location_snippet
from shiplane_plugin_nginx.router import bootstrap


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shiplane_plugin_nginx", description=(__doc__ or "").split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="write the include file (all traffic on control) if it does not exist")
    init.add_argument("config", type=Path, help="the router configuration, a JSON file")
    arguments = parser.parse_args(argv)
    try:
        config = json.loads(arguments.config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"error: could not read {arguments.config}: {exc}", file=sys.stderr)
        return 2
    try:
        written = bootstrap(config)
    except PluginError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    include = config["includeFile"]
    print(f"{'wrote' if written else 'kept the existing'} {include}")
    print("\nin nginx's http block:\n")
    print(f"    {http_snippet(include)}")
    print("\nin the server block:\n")
    print("\n".join(f"    {line}" for line in location_snippet(config["name"]).splitlines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
