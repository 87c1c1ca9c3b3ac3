"""Manifests as untrusted input: read only regular files of bounded size, check every field.

A result folder may come from anywhere (a colleague, a download, a crafted attack), so its
`manifest.json` is parsed like any other input: a FIFO or device is refused instead of read, an
oversized or deeply nested file is refused instead of exhausting memory or the stack, and each
field the tool uses is type-checked, so a crafted manifest gives one line naming the file and the
key, never a KeyError or TypeError later. A manifest may only name regular files inside its own
folder (`listed_file`), so it cannot make the tool read or hash anything else.
"""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sim.config.designs import SweepSpec
from sim.config.scenario import Scenario
from sim.files import read_regular
from sim.storage.folders import MANIFEST_LIMIT, READABLE_VERSIONS

FILE_LIMIT = 4 * 2**30  # bytes; the largest result file a manifest may name (a big run's moves)
MAX_RUNS = 1_000_000  # runs a sweep manifest may describe
SAFE_NAME = r"^[A-Za-z0-9_\-][A-Za-z0-9_\-\.]{0,79}$"  # a base or sweep name: usable in a file name


class ResultsError(ValueError):
    """A result folder holding a file that cannot be trusted; the message names the file."""


def listed_file(folder: Path, name: Any, manifest: str = "manifest.json") -> Path:
    """The path of a file a manifest lists, which must be a regular file inside `folder` reached
    without symbolic links, of at most FILE_LIMIT bytes; ResultsError otherwise."""
    where = Path(folder) / manifest
    if not isinstance(name, str) or not name or "\0" in name or "\\" in name:
        raise ResultsError(f"{where}: files: {name!r} is not a file name")
    parts = name.split("/")
    if name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ResultsError(f"{where}: files: {name!r} is not a path inside the folder")
    path = Path(folder)
    for i, part in enumerate(parts):
        path = path / part
        try:
            info = path.lstat()
        except FileNotFoundError:
            raise ResultsError(f"{path}: listed in {manifest} but missing") from None
        except OSError as exc:
            raise ResultsError(f"{path}: cannot be read ({exc.strerror})") from None
        if stat.S_ISLNK(info.st_mode):
            raise ResultsError(f"{path}: is a symbolic link; a result folder holds only its own files")
        last = i == len(parts) - 1
        if last and not stat.S_ISREG(info.st_mode):
            raise ResultsError(f"{path}: not a regular file")
        if not last and not stat.S_ISDIR(info.st_mode):
            raise ResultsError(f"{path}: not a folder")
    if info.st_size > FILE_LIMIT:
        raise ResultsError(f"{path}: {info.st_size:,} bytes, more than the {FILE_LIMIT:,} a result file may have")
    return path


def read_manifest(folder: Path) -> dict:
    """The manifest of a result folder, read as untrusted input and checked field by field
    (ResultsError, a ValueError, with one line naming the file and the problem)."""
    path = Path(folder) / "manifest.json"
    try:
        manifest = json.loads(read_regular(path, MANIFEST_LIMIT))
    except RecursionError:
        raise ResultsError(f"{path}: cannot read manifest: nested too deeply") from None
    except ValueError as exc:  # not there, not a regular file, too big, bad JSON or not UTF-8
        raise ResultsError(f"{path}: cannot read manifest: {_one_line(str(exc))}") from None
    if not isinstance(manifest, dict):
        raise ResultsError(f"{path}: not a teachersim manifest (a JSON {type(manifest).__name__})")
    version = manifest.get("schema_version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        raise ResultsError(f"{path}: schema_version {version!r}, expected one of "
                           f"{', '.join(map(str, READABLE_VERSIONS))} (written by another teachersim version)")
    return check_fields(path, manifest)


# ---------------------------------------------------------------------------- the fields

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Seed = Annotated[int, Field(ge=0, lt=2**63)]
Count = Annotated[int, Field(ge=0, le=MAX_RUNS)]
Name = Annotated[str, Field(pattern=SAFE_NAME)]


class Fields(BaseModel):
    """Strict types (no "1" for 1, no true for 1); fields the tool does not read are allowed."""

    model_config = ConfigDict(strict=True, extra="allow")


class RunManifest(Fields):
    kind: Literal["run"] = "run"
    scenario: Scenario
    seeds: Annotated[list[Seed], Field(min_length=1)]
    versions: dict[str, str] = {}
    git_commit: str | None = None
    timings: dict[str, float] = {}
    files: Annotated[dict[str, Sha256], Field(min_length=1)]


class CompareManifest(Fields):
    kind: Literal["compare"]
    baseline: str
    scenarios: Annotated[list[Scenario], Field(min_length=2)]
    seeds: Annotated[list[Seed], Field(min_length=1)]
    outcomes: list[str]
    at: list[Count]
    versions: dict[str, str] = {}
    git_commit: str | None = None
    timings: dict[str, float] = {}
    files: Annotated[dict[str, Sha256], Field(min_length=1)]

    @model_validator(mode="after")
    def _baseline_is_a_scenario(self) -> CompareManifest:
        if self.baseline not in [s.name for s in self.scenarios]:
            raise ValueError(f"baseline {self.baseline!r} is not one of the scenarios")
        return self


class SweepBase(Fields):
    name: Name
    path: str
    scenario: Scenario


class SweepDesign(Fields):
    kind: Literal["grid", "lhs", "sobol", "morris"]
    parameters: list[str]
    n_points: Annotated[int, Field(ge=1, le=MAX_RUNS)]
    salib: dict[str, Any] | None
    points: list[dict[str, Any]]
    table: Literal["design.parquet"]
    sha256: Sha256  # of design.parquet


class SweepRuns(Fields):
    total: Annotated[int, Field(ge=1, le=MAX_RUNS)]


class SweepStatus(Fields):
    done: Count
    failed: Count
    missing: Count


class Session(Fields):
    started: str = "?"
    host: str = "?"
    executor: str = "?"
    git_commit: str | None = None
    versions: dict[str, str] = {}
    seconds: float = 0.0
    present_before: Count = 0
    ran: Count = 0
    failed: Count = 0
    interrupted: bool = False


class SweepManifest(Fields):
    kind: Literal["sweep"]
    name: Name
    description: str = ""
    sweep_file: str
    fingerprint: Sha256
    spec: SweepSpec
    bases: Annotated[list[SweepBase], Field(min_length=1)]
    root_seed: Seed
    seeds: Annotated[list[Seed], Field(min_length=1)]
    design: SweepDesign
    runs: SweepRuns
    sessions: list[Session] = []
    status: SweepStatus | None = None
    done_runs: list[str] = []  # run ids whose files were complete when the manifest was last written

    @model_validator(mode="after")
    def _consistent(self) -> SweepManifest:
        names = [b.name for b in self.bases]
        if len(set(names)) != len(names):
            raise ValueError("bases: two bases have the same name")
        if len(self.design.points) != self.design.n_points:
            raise ValueError(f"design: n_points is {self.design.n_points} but {len(self.design.points)} points "
                             "are listed")
        total = len(self.bases) * self.design.n_points * len(self.seeds)
        if self.runs.total != total:
            raise ValueError(f"runs.total is {self.runs.total}, but bases x points x seeds = {total}")
        if len(self.seeds) != self.spec.replicates:
            raise ValueError(f"seeds: {len(self.seeds)} seeds for {self.spec.replicates} replicates")
        if sorted(self.design.parameters) != sorted(self.spec.parameters):
            raise ValueError("design.parameters differ from spec.parameters")
        if self.status is not None and sum(self.status.model_dump().values()) != total:
            raise ValueError(f"status: done + failed + missing is not the {total} runs")
        return self


MODELS = {"run": RunManifest, "compare": CompareManifest, "sweep": SweepManifest}


def check_fields(path: Path, manifest: dict) -> dict:
    """`manifest` unchanged when every field the tool reads has the right type and the fields
    agree with each other; ResultsError naming `path` and the first bad key otherwise."""
    kind = manifest.get("kind", "run")
    if not isinstance(kind, str) or kind not in MODELS:
        raise ResultsError(f"{path}: kind: {kind!r} is not run, compare or sweep")
    try:
        MODELS[kind].model_validate(manifest)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ResultsError(f"{path}: {where + ': ' if where else ''}{_one_line(err['msg'])}") from None
    except RecursionError:
        raise ResultsError(f"{path}: nested too deeply") from None
    return manifest


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().removeprefix("Value error, ")
