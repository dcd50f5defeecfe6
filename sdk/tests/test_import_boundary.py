"""The SDK must never import the server: core depends on the SDK, not the reverse."""

import ast
from pathlib import Path

import shiplane_sdk

PACKAGE_DIR = Path(shiplane_sdk.__file__).parent


def _is_core(module: str) -> bool:
    return module == "shiplane" or module.startswith("shiplane.")


def _core_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"{path.name}:{node.lineno} import {a.name}" for a in node.names if _is_core(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and _is_core(node.module):
            found.append(f"{path.name}:{node.lineno} from {node.module} import ...")
    return found


def test_no_module_of_the_sdk_imports_the_core():
    modules = sorted(PACKAGE_DIR.rglob("*.py"))
    assert len(modules) >= 10, f"expected the whole package, found {modules}"
    offending = [hit for module in modules for hit in _core_imports(module)]
    assert offending == []


def test_the_check_recognises_core_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import shiplane\nimport shiplane.engine as e\nfrom shiplane.platform import x\n"
        "import shiplane_sdk\nfrom shiplane_sdk.models import Event\nfrom . import y\n"
    )
    assert len(_core_imports(sample)) == 3
