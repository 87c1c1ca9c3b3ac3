"""Write docs/scenario_reference.md from the pydantic schema in sim/config/scenario.py.

Every key a scenario file may hold, with its type, its allowed range, its default and the comment
written beside it in the schema (its unit and source). The schema is the one source: a test
(tests/test_docs_site.py) fails when this page is not what the schema gives.

    python scripts/scenario_reference.py          # rewrite the page
"""

from __future__ import annotations

import inspect
import io
import re
import sys
import tokenize
import typing
from pathlib import Path

from pydantic import BaseModel

from sim.config.scenario import Scenario

PAGE = Path(__file__).resolve().parents[1] / "docs" / "scenario_reference.md"
HEADER = """# Scenario reference

Generated from the schema (`sim/config/scenario.py`) by `scripts/scenario_reference.py`; do not edit by
hand. Unknown keys are errors. A list of sections (`policy.programs`) is addressed by index or by
the program's `name` in `--set` and sweep files. Units and sources are in the notes; a value
labelled *assumption* has no published source and is explored in the range its note gives.
"""


def comments(cls) -> dict[str, str]:
    """Field name -> the comment beside it (and on the lines just above) in the class source."""
    source = inspect.getsource(cls)
    lines = source.splitlines()
    found: dict[str, str] = {}
    trailing: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            trailing[tok.start[0]] = tok.string.lstrip("#").strip()
    for number, line in enumerate(lines, start=1):
        match = re.match(r"^    ([a-z_][a-z0-9_]*)\s*:", line)
        if not match:
            continue
        above = []
        back = number - 1
        while back >= 1 and lines[back - 1].strip().startswith("#"):
            above.insert(0, trailing.get(back, ""))
            back -= 1
        here = trailing.get(number, "") if not line.strip().startswith("#") else ""
        found[match.group(1)] = " ".join(part for part in [*above, here] if part)
    return found


def type_text(annotation) -> str:
    """A short readable type: int, float in [0, 1], one of a | b, list of ..., optional."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        base, *meta = args
        return type_text(base) + bounds_text(meta)
    if origin is typing.Literal:
        return "one of " + " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        rest = [a for a in args if a is not type(None)]
        text = " or ".join(type_text(a) for a in rest)
        return text + (" or null" if len(rest) < len(args) else "")
    if origin is list:
        return f"list of {type_text(args[0])}" if args else "list"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    return getattr(annotation, "__name__", str(annotation))


def bounds_text(metadata) -> str:
    """` (>= 0, <= 1)` from pydantic's constraint objects (a Field's metadata or Annotated's)."""
    bounds = []
    for m in metadata:
        for item in getattr(m, "metadata", [m]):
            for name, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
                if getattr(item, name, None) is not None:
                    bounds.append(f"{sign} {getattr(item, name)}")
    return f" ({', '.join(bounds)})" if bounds else ""


def default_text(field) -> str:
    if field.is_required():
        return "required"
    value = field.default
    if isinstance(value, BaseModel):
        return "(section)"
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def sections(cls, prefix: str) -> list[tuple[str, type]]:
    """The section classes under `cls`, depth first, with their dotted prefixes."""
    out = [(prefix, cls)]
    for name, field in cls.model_fields.items():
        if field.exclude:
            continue
        for inner in _models(field.annotation):
            many = typing.get_origin(field.annotation) is list
            out += sections(inner, f"{prefix}.{name}[]" if many else f"{prefix}.{name}" if prefix else name)
    return out


def _models(annotation) -> list[type]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in _models(a)]


def render() -> str:
    parts = [HEADER]
    for prefix, cls in sections(Scenario, ""):
        notes = comments(cls)
        title = prefix or "top level"
        doc = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")
        parts.append(f"\n## `{title}`\n\n{doc}\n\n| key | type | default | notes |\n|---|---|---|---|")
        for name, field in cls.model_fields.items():
            if field.exclude:
                continue
            note = notes.get(name, "").replace("|", "\\|")
            kind = type_text(field.annotation) + bounds_text(field.metadata)
            parts.append(f"| `{name}` | {kind} | {default_text(field)} | {note} |")
    return "\n".join(parts) + "\n"


def main() -> int:
    PAGE.write_text(render(), encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
