"""Regenerate ``shiplane_sdk/client/models.py`` from the server's OpenAPI document.

    python sdk/scripts/generate_client_models.py                 # from shiplane.app.create_app().openapi()
    python sdk/scripts/generate_client_models.py --url http://127.0.0.1:8080   # from a running server
    python sdk/scripts/generate_client_models.py --check         # exit 1 if the committed file differs

The models are written by ``datamodel-code-generator`` (a development tool, pinned to
``GENERATOR_VERSION`` below: another version writes other text), never at run time.
``sdk/tests/test_client_models.py`` regenerates them from a live server's document and
fails when the committed file differs, so the client cannot drift from the server.

This script lives outside the ``shiplane_sdk`` package: it may import the server
(``--url`` does not need to), the package never does.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

#: The generator version the committed file was made with (the header names it too).
GENERATOR_VERSION = "0.89.0"
TARGET = Path(__file__).resolve().parents[1] / "shiplane_sdk" / "client" / "models.py"
OPTIONS = [
    "--input-file-type=openapi",
    "--output-model-type=pydantic_v2.BaseModel",
    "--target-python-version=3.11",
    "--disable-timestamp",
    "--use-annotated",
    "--field-constraints",
    "--use-standard-collections",
    "--use-union-operator",
    "--allow-population-by-field-name",
    "--snake-case-field",
    "--use-double-quotes",
    "--formatters=builtin",
    "--enum-field-as-literal=all",
    "--use-schema-description",
    "--use-field-description",
    "--disable-warnings",
    # A newer server's extra fields are kept (``model_extra``), not refused: an older
    # client keeps reading a newer server's answers.
    "--extra-fields=allow",
]
HEADER = """\
# Generated from the Shiplane server's OpenAPI document by datamodel-code-generator {version}.
# Do not edit: regenerate with
#     python sdk/scripts/generate_client_models.py            (from shiplane.app.create_app())
#     python sdk/scripts/generate_client_models.py --url URL  (from a running server)
# sdk/tests/test_client_models.py fails when this file and the live document differ.
#
# Request bodies, and the data of every answer the document describes (the *Out models);
# RESPONSES at the end maps each operation to its answer's model (shiplane_sdk.client._typed).
"""


def openapi_from_app() -> dict[str, Any]:
    from shiplane.app import create_app  # the server: only this script imports it

    document: dict[str, Any] = create_app().openapi()
    return document


def openapi_from_url(url: str) -> dict[str, Any]:
    import httpx

    response = httpx.get(url.rstrip("/") + "/api/openapi.json", timeout=30)
    response.raise_for_status()
    document: dict[str, Any] = response.json()
    return document


def installed_generator_version() -> str:
    from importlib.metadata import version

    return version("datamodel-code-generator")


def generate(document: dict[str, Any]) -> str:
    """The text of models.py for ``document``."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "openapi.json"
        source.write_text(json.dumps(document))
        result = subprocess.run(
            [sys.executable, "-m", "datamodel_code_generator", "--input", str(source), *OPTIONS],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    if result.returncode != 0:
        raise RuntimeError(f"datamodel-codegen failed ({result.returncode}):\n{result.stderr}")
    body = result.stdout
    # The generator's own first lines name a temporary file: replaced by the header.
    lines = body.splitlines(keepends=True)
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    text = HEADER.format(version=GENERATOR_VERSION) + "".join(lines)
    return text + responses_text(document, text)


def responses(document: dict[str, Any]) -> dict[tuple[str, str], tuple[str, bool]]:
    """``(METHOD, path template) -> (model name, list?)`` for every operation whose success
    envelope's ``data`` the document names (``platform.openapi.returns`` on the server)."""
    table: dict[tuple[str, str], tuple[str, bool]] = {}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            for status, response in operation.get("responses", {}).items():
                if not status.startswith("2"):
                    continue
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                data = schema.get("properties", {}).get("data", {})
                many = data.get("type") == "array"
                ref = (data.get("items", {}) if many else data).get("$ref", "")
                if ref.startswith("#/components/schemas/"):
                    table[(method.upper(), path)] = (ref.rsplit("/", 1)[1], many)
    return dict(sorted(table.items()))


def responses_text(document: dict[str, Any], models_text: str) -> str:
    table = responses(document)
    namespace: dict[str, Any] = {}
    exec(compile(models_text, "models.py", "exec"), namespace)  # noqa: S102 - the text just generated
    missing = sorted({name for name, _ in table.values() if name not in namespace})
    if missing:
        raise RuntimeError(f"the generator named these schemas otherwise: {missing}")
    rows = "".join(
        f'    ("{method}", "{path}"): ("{name}", {many}),\n' for (method, path), (name, many) in table.items()
    )
    return (
        "\n\n#: (method, path template) -> (model name, whether the data is a list of them): the model of\n"
        "#: every answer the document describes (shiplane_sdk.client._typed reads it).\n"
        f"RESPONSES: dict[tuple[str, str], tuple[str, bool]] = {{\n{rows}}}\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server (default: the app built in this process)")
    parser.add_argument("--output", type=Path, default=TARGET)
    parser.add_argument("--check", action="store_true", help="compare with the file instead of writing it")
    args = parser.parse_args(argv)
    found = installed_generator_version()
    if found != GENERATOR_VERSION:
        print(f"datamodel-code-generator {found} is installed, {GENERATOR_VERSION} is pinned", file=sys.stderr)
        return 2
    document = openapi_from_url(args.url) if args.url else openapi_from_app()
    text = generate(document)
    if args.check:
        if args.output.read_text() != text:
            print(f"{args.output} differs from the OpenAPI document: regenerate it", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
