"""The reference scenarios and example sweeps shipped inside the package.

They are installed with teachersim (package data under `sim/data/`, links to the checkout's
`scenarios/` and `sweeps/`), so `teachersim scenarios` lists them from any folder, `teachersim run
dongcheng_2021` finds one by name, and `teachersim init DIR` copies them for editing. A file path
always wins over a name: `run scenarios/x.yaml` reads that file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
SCENARIOS = DATA / "scenarios"
SWEEPS = DATA / "sweeps"


def scenario_files(folder: Path = SCENARIOS) -> dict[str, Path]:
    """Name -> file of every scenario under `folder` (subfolders too, e.g. the roster example),
    leaving out the `_`-prefixed files that others extend."""
    found = {}
    for path in sorted(Path(folder).rglob("*.yaml")):
        if not path.name.startswith("_") and path.is_file():
            found[path.relative_to(folder).with_suffix("").as_posix()] = path
    return found


def find_scenario(name_or_path: str) -> str:
    """`name_or_path` itself when it is a file (or looks like one); else the shipped scenario of
    that name (`dongcheng_2021`, or `rosters/example/roster_example`), or its stem if that is unique."""
    if Path(name_or_path).exists() or Path(name_or_path).suffix in (".yaml", ".yml") or not name_or_path:
        return name_or_path
    shipped = scenario_files()
    if name_or_path in shipped:
        return str(shipped[name_or_path])
    by_stem = [p for n, p in shipped.items() if n.rsplit("/", 1)[-1] == name_or_path]
    return str(by_stem[0]) if len(by_stem) == 1 else name_or_path


def copy_examples(dest: Path) -> list[Path]:
    """Copy the shipped scenarios and sweeps into `dest/scenarios` and `dest/sweeps` (a new or
    empty folder: nothing there is ever overwritten). Returns the folders written."""
    dest = Path(dest).absolute()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"{dest}: exists and is not an empty folder; teachersim init writes only into a new one")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for source in (SCENARIOS, SWEEPS):
            shutil.copytree(source, tmp / source.name, ignore=shutil.ignore_patterns("__pycache__", ".*"))
        os.rename(tmp, dest)  # onto a missing or empty folder: all or nothing
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [dest / source.name for source in (SCENARIOS, SWEEPS)]
