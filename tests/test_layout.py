"""The package stays readable: no module over 400 lines, no function over 80, at most 10
modules at the top level (the rest live in their layer's package)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "zipfit_ray"
MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_and_functions_stay_short(module):
    source = module.read_text()
    assert len(source.splitlines()) <= 400
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno - node.lineno + 1 <= 80, node.name


def test_few_modules_at_the_top_level():
    assert len(list(PACKAGE.glob("*.py"))) <= 10
