"""No function in sim/ is longer than MAX_LINES (def line to last line, docstring included) unless
it is listed below with a reason a reader accepts (issue 14: a long function hides its steps).
Read from the source with `ast`; an entry that no longer needs its place fails too, so the list
stays short and true."""

from __future__ import annotations

import ast

from conftest import REPO

MAX_LINES = 60

# "module:qualified name": why it may stay long. Keep this list short and honest.
ALLOWED = {
    "sim/cli.py:parser": "argparse declarations, one flat table of the commands and their options",
}


def long_functions() -> dict[str, int]:
    """Every function over MAX_LINES in sim/, as "path:Qualified.name" -> its length in lines."""
    found = {}
    for path in sorted((REPO / "sim").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()

        def visit(node, prefix: str, rel: str = rel) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    name = prefix + child.name
                    if not isinstance(child, ast.ClassDef):
                        length = child.end_lineno - child.lineno + 1
                        if length > MAX_LINES:
                            found[f"{rel}:{name}"] = length
                    visit(child, name + ".")

        visit(ast.parse(path.read_text(encoding="utf-8")), "")
    return found


def test_no_function_is_over_the_limit_unless_listed_with_a_reason():
    unlisted = {k: n for k, n in long_functions().items() if k not in ALLOWED}
    assert not unlisted, f"over {MAX_LINES} lines (split it, or list it in ALLOWED with a reason): {unlisted}"


def test_every_listed_function_still_needs_its_place():
    stale = sorted(set(ALLOWED) - set(long_functions()))
    assert not stale, f"no longer over {MAX_LINES} lines (or gone): remove from ALLOWED: {stale}"
    assert all(reason.strip() and "\n" not in reason for reason in ALLOWED.values())
