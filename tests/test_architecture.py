"""The import rules of ARCHITECTURE.md, checked on the source: the library knows no orchestrator, web framework or
database; records knows no web framework; the flows do not import the web package; the service no flows; and no
module of service/ is over about 600 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "forecasting": {"prefect", "fastapi", "starlette", "sqlalchemy", "alembic", "records", "service", "flows"},
    "records": {"fastapi", "starlette", "jinja2", "prefect", "service", "flows"},
    "flows": {"service", "fastapi", "starlette"},
    "service": {"flows", "prefect"},
    "bulletins": {"service", "flows", "fastapi", "starlette", "uvicorn", "prefect"},
}
# the one exception: bulletins/i18n.py reads the dashboard's catalogue (pure Python) until it leaves service/
ALLOWED = {"bulletins": {"service.i18n"}}


def imported_modules(path: Path) -> set[str]:
    """The full names of every module a file imports (also inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def imported_roots(path: Path, allowed: set[str] = frozenset()) -> set[str]:
    """The top-level names of every module a file imports (also inside functions), but the `allowed` modules."""
    return {m.split(".")[0] for m in imported_modules(path) if m not in allowed}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_import_rules(package: str) -> None:
    bad = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        wrong = imported_roots(path, ALLOWED.get(package, set())) & FORBIDDEN[package]
        if wrong:
            bad[str(path.relative_to(ROOT))] = sorted(wrong)
    assert bad == {}, f"{package}/ imports what ARCHITECTURE.md forbids: {bad}"


def test_the_rules_see_function_level_imports(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text("def f():\n    from service.app import create_app\n    import prefect.flows\n")
    assert imported_roots(sample) == {"service", "prefect"}


def test_no_service_module_is_over_600_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in (ROOT / "service").rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 600
    }
    assert long == {}, long


def test_bulletins_load_no_web_framework() -> None:
    """The renderers the daily flow uses import the catalogue (service.i18n) but no web framework."""
    import subprocess
    import sys

    code = (
        "import sys, bulletins, bulletins.pdf, bulletins.xlsx, bulletins.html, bulletins.files;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette', 'uvicorn')"
        " or m in ('service.app', 'service.auth', 'service.state'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
