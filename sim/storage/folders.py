"""Output folders that are safe to replace: what `run` and `compare` may overwrite, and how.

A result folder is replaced only when its manifest shows that teachersim wrote it, for the same
kind of result (and, unless forced, the same resolved scenario), and it holds nothing the manifest
does not list. Anything else is refused before any work starts, with one line (`OutputRefused`).
The files `report` and `export` add to a run or comparison folder (`DERIVED`) are replaced with it
only as teachersim wrote them: each is noted with its SHA-256 when written (`derived_note`), and
one that is not noted, or has changed since, is the user's.

The new result is built in a hidden sibling folder and swapped with the earlier one in one step
(Linux `renameat2(RENAME_EXCHANGE)`), so there is no moment when neither is in place. Where the
file system cannot swap, the earlier folder is moved aside first; a kill between the two renames
is then repaired by the next write into that folder, which puts the earlier result back. Hidden
folders left by killed writers are removed by the next write into that folder (and said so).

Two writers of one folder are kept apart by a lock file beside it (`.NAME.lock`, an flock that
the system drops when a process dies; a symlink there is refused).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sim.files import read_regular

SCHEMA_VERSION = 2  # of every file teachersim writes; here, below the writers and the manifest reader
# 2: `subgroup` (was `group`), labelled moves, a sweep's parameters in its run files (results/README.md)
READABLE_VERSIONS = (1, 2)  # what sim.storage.results reads (an older folder's frames are brought to this version)
MANIFEST_LIMIT = 64 * 2**20  # bytes; a sweep manifest lists its design points and finished runs
PARTIAL = ".teachersim-partial"  # marks a hidden folder as a result being built
DERIVED_RECORD = ".teachersim-derived.json"  # the DERIVED files teachersim wrote into a folder: path -> SHA-256
DERIVED_RECORD_LIMIT = 2**20  # bytes; the record lists at most a dozen files
OURS = {"manifest.json", "summary.md", "metrics.parquet", "schools.parquet", "moves.parquet", "figures",
        "comparison.csv", "comparison.md", "trajectories.parquet", "graph.json", "report.html", "export.xlsx", "csv",
        PARTIAL, DERIVED_RECORD}
# what teachersim's other commands add to a result folder (report, export)
DERIVED = {"report.html", "report.md", "export.xlsx"} | {f"csv/{table}.csv" for table in
                                              ("metrics", "schools", "moves", "comparison", "trajectories")}
REPLACED_WHOLE = ("run", "compare")  # kinds a new result replaces, DERIVED files and all (others resume in place)


class OutputRefused(ValueError):
    """The output folder cannot be (re)placed; the message is one line for the user."""


class OutputBusy(OutputRefused):
    """Another process is writing into the same output folder."""


@dataclass
class Claim:
    """A locked output folder, checked to be safe to replace; `notes` are lines to tell the user."""

    out: Path
    kind: str
    notes: list[str] = field(default_factory=list)


def output_path(out: str | Path) -> Path:
    """`out` as an absolute path, refusing an empty path, the root and the working folder."""
    if str(out).strip() == "":
        raise OutputRefused("--out: empty path; give a folder name")
    path = Path(os.path.abspath(out))
    if path.name in ("", ".", ".."):
        raise OutputRefused(f"--out {out}: not a folder name teachersim can replace")
    cwd = Path.cwd().resolve()
    resolved = path.resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise OutputRefused(f"--out {out}: is the working folder or holds it; choose a new folder")
    return path


@contextlib.contextmanager
def claim(out: str | Path, kind: str, identity=None, force: bool = False):
    """Lock `out`, tidy what killed writers left beside it, and check that it may be replaced.

    Re-entrant within one process (the CLI claims before the run, the writer again at the end).
    """
    path = output_path(out)
    with _lock(path) as first:
        notes = tidy_leftovers(path) if first else []
        check_replaceable(path, kind, identity, force)
        yield Claim(path, kind, notes)


def check_replaceable(out: Path, kind: str, identity=None, force: bool = False) -> None:
    """OutputRefused unless `out` is missing, empty, or a teachersim result of `kind` holding only
    its own files (and of the same `identity`, the resolved scenario(s), unless `force`)."""
    if out.is_symlink():
        raise OutputRefused(f"{out}: is a symbolic link; teachersim replaces only folders it wrote")
    if not out.exists():
        return
    if not out.is_dir():
        raise OutputRefused(f"{out}: exists and is not a folder")
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return
    manifest = _manifest(out)
    if manifest is None:
        raise OutputRefused(f"{out}: holds files teachersim did not write (no manifest.json); "
                            "choose another --out")
    found = manifest_kind(manifest)
    if found != kind:
        raise OutputRefused(f"{out}: holds a teachersim {found or 'result of unknown kind'}, not a {kind}; "
                            "choose another --out")
    foreign = _foreign_files(out, manifest, derived_as_written=kind in REPLACED_WHOLE)
    if foreign:
        more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
        raise OutputRefused(f"{out}: holds {foreign[0]}{more}, which teachersim did not write (or which was "
                            "changed since); move it away or choose another --out")
    if identity is not None and not force:
        recorded = manifest.get("scenarios" if kind == "compare" else "scenario")
        changed = differences(recorded, identity)
        if changed:
            where = ", ".join(changed[:3])
            raise OutputRefused(f"{out}: holds a {kind} of a different scenario (differs at {where}); "
                                "pass --force to replace it, or choose another --out")


def manifest_kind(manifest: dict) -> str | None:
    """run, compare or sweep (manifests of runs written before 'kind' was recorded have none)."""
    kind = manifest.get("kind")
    if kind is None and isinstance(manifest.get("scenario"), dict):
        return "run"
    return kind if isinstance(kind, str) else None


def differences(a, b, prefix: str = "") -> list[str]:
    """Dotted paths where a recorded JSON-like value `a` differs from `b` (for saying which setting
    changed). A key `a` does not have is a setting added to teachersim since `a` was written, not
    a change: it is not counted, so upgrading does not make every earlier result "another scenario"."""
    if isinstance(a, dict) and isinstance(b, dict):
        found = []
        for key in sorted(a, key=str):
            found += differences(a[key], b.get(key), f"{prefix}{key}.")
        return found
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        found = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found += differences(x, y, f"{prefix}{i}.")
        return found
    return [] if a == b else [prefix.rstrip(".") or "the whole scenario"]


def _manifest(out: Path) -> dict | None:
    """The folder's manifest as a dict, None when there is no readable one (a regular file only)."""
    try:
        data = json.loads(read_regular(out / "manifest.json", MANIFEST_LIMIT))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _foreign_files(out: Path, manifest: dict, derived_as_written: bool = False) -> list[str]:
    """Files and folders in `out` that neither the manifest lists nor teachersim always writes;
    with `derived_as_written`, also the DERIVED files it has no note of, or that changed since."""
    listed = manifest.get("files")
    listed = {str(k) for k in listed} if isinstance(listed, dict) else set()
    allowed = listed | {"manifest.json", "summary.md", DERIVED_RECORD} | DERIVED
    foreign = _files_in(out, allowed)
    if derived_as_written:
        noted = derived_record(out)
        for name in sorted(DERIVED - listed):
            path = out / name
            if path.is_file() and not path.is_symlink() and noted.get(name) != sha256(path):
                foreign.append(name)
    return foreign


def _files_in(out: Path, allowed: set[str]) -> list[str]:
    """What `out` holds beyond the `allowed` files and their folders (a folder ends in /)."""
    folders = {part for name in allowed for part in _parents(name)}
    foreign = []
    for dirpath, dirnames, filenames in os.walk(out):
        rel = Path(dirpath).relative_to(out)
        for name in sorted(dirnames):
            sub = (rel / name).as_posix()
            if sub not in folders or (Path(dirpath) / name).is_symlink():
                foreign.append(sub + "/")
        dirnames[:] = [d for d in dirnames if (rel / d).as_posix() in folders]
        foreign += [(rel / f).as_posix() for f in sorted(filenames) if (rel / f).as_posix() not in allowed]
    return foreign


def sha256(path: Path) -> str:
    """The SHA-256 of a file, read in blocks (a large file never has to fit in memory)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def derived_record(folder: Path) -> dict[str, str]:
    """The DERIVED files teachersim noted writing into `folder`, with their SHA-256 (empty when
    there is no record or it cannot be read: every DERIVED file is then the user's)."""
    try:
        record = json.loads(read_regular(folder / DERIVED_RECORD, DERIVED_RECORD_LIMIT))
    except (OSError, ValueError):  # FileRefused and bad JSON are ValueErrors
        return {}
    if not isinstance(record, dict):
        return {}
    return {k: v for k, v in record.items() if k in DERIVED and isinstance(v, str)}


def derived_note(folder: Path, path: Path, digest: str) -> dict[str, str] | None:
    """The folder's record with `path` (just written, of SHA-256 `digest`) noted as teachersim's, so
    that replacing the folder may remove it while it is unchanged; None when `path` is not one of
    the result folder `folder`'s DERIVED files (a report written elsewhere). Two commands noting at
    once may lose one note: that file is then kept, never removed."""
    try:
        name = path.resolve().relative_to(folder.resolve()).as_posix()
    except (OSError, ValueError):
        return None
    if name not in DERIVED or not (folder / "manifest.json").is_file():
        return None
    return derived_record(folder) | {name: digest}


def _parents(name: str) -> list[str]:
    parts = Path(name).parts[:-1]
    return [Path(*parts[: i + 1]).as_posix() for i in range(len(parts))]


def new_build_folder(out: Path) -> Path:
    """A hidden sibling of `out` to build a result in, marked as partial until it is swapped in."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    (tmp / PARTIAL).touch()
    return tmp


def swap_into_place(tmp: Path, out: Path) -> None:
    """Put the finished folder `tmp` at `out`; the earlier folder there (if any) is removed after."""
    (tmp / PARTIAL).unlink(missing_ok=True)
    if not out.exists() and not out.is_symlink():
        os.rename(tmp, out)
        return
    if _exchange(tmp, out):  # one step: `out` is the new result, `tmp` the earlier one
        shutil.rmtree(tmp, ignore_errors=True)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    os.rename(out, old / "result")
    try:
        os.rename(tmp, out)
    except BaseException:
        os.rename(old / "result", out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with Linux's renameat2; False where that is not available."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))


def tidy_leftovers(out: Path) -> list[str]:
    """Repair what killed writers left beside `out`; returns one line per thing done.

    An earlier result moved aside (`.NAME.old-*`) is put back when `out` is missing; folders being
    built (`.NAME.tmp-*`, or `.NAME.` and 8 random characters from earlier versions) are removed
    when they hold only files teachersim writes.
    """
    notes = []
    if not out.parent.is_dir():
        return notes
    for old in sorted(out.parent.glob(f".{out.name}.old-*")):
        earlier = old / "result" if (old / "result").is_dir() else old
        if old.is_symlink() or not _only_ours(earlier):
            continue
        if not out.exists():
            os.rename(earlier, out)
            notes.append(f"{out}: put back the earlier result that an interrupted write had moved aside")
        shutil.rmtree(old, ignore_errors=True)
    removed = 0
    for tmp in sorted(out.parent.glob(f".{out.name}.*")):
        name = tmp.name[len(out.name) + 2:]
        legacy = len(name) == 8 and "." not in name
        if (name.startswith("tmp-") or legacy) and not tmp.is_symlink() and tmp.is_dir() and _only_ours(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
            removed += 1
    if removed:
        notes.append(f"{out}: removed {removed} unfinished result folder(s) left by an interrupted run")
    return notes


def _only_ours(folder: Path) -> bool:
    try:
        return folder.is_dir() and all(p.name in OURS for p in folder.iterdir())
    except OSError:
        return False


_held: set[Path] = set()


@contextlib.contextmanager
def _lock(out: Path):
    """An exclusive flock on `.NAME.lock` beside `out`, removed when released. Yields True for
    the outermost holder in this process. The inode check after locking closes the race with a
    holder that unlinks the file as it releases it."""
    import fcntl

    key = out.resolve()
    if key in _held:
        yield False
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    path = out.parent / f".{out.name}.lock"
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise OutputRefused(f"{path}: is a symbolic link; refusing to use it as a lock") from None
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputBusy(f"{out}: another teachersim process is writing into this folder; "
                             "wait for it or choose another --out") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path, follow_symlinks=False).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    _held.add(key)
    try:
        yield True
    finally:
        _held.discard(key)
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)
