"""The result store's sweep pieces: atomic files, valid-file checks for resume, the folder lock."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from sim.storage.store import (
    TMP,
    FolderBusy,
    folder_lock,
    replace_atomically,
    run_id,
    write_folder,
    write_run_file,
)

FRAME = pd.DataFrame({"scenario": ["a", "a"], "point": [0, 0], "replicate": [1, 1], "seed": [5, 5],
                      "year": [0, 1], "metric": ["m", "m"], "subgroup": ["all", "all"], "value": [0.5, 0.25]})


def test_run_id_sorts_by_point_and_replicate():
    ids = [run_id("dc", p, r) for p in (2, 10, 100) for r in (0, 3, 12)]
    assert sorted(ids) == ids
    assert run_id("dc", 7, 3) == "dc__p000007__r0003"


SWEEP = "f" * 64  # a sweep fingerprint


def test_run_file_is_written_whole_and_read_back(tmp_path):
    path = write_run_file(FRAME, tmp_path, "a__p000000__r0001", SWEEP)
    assert path == tmp_path / "runs" / "a__p000000__r0001.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(path), FRAME, check_dtype=False)
    assert list((tmp_path / TMP).iterdir()) == []  # the temporary file was renamed, not copied
    meta = pq.read_schema(path).metadata
    assert meta[b"teachersim_run"] == b"a__p000000__r0001" and meta[b"teachersim_sweep"] == SWEEP.encode()


def test_a_run_file_has_its_checksum_in_sha256sum_format(tmp_path):
    import hashlib
    import shutil
    import subprocess

    path = write_run_file(FRAME, tmp_path, "a__p000000__r0001", SWEEP)
    sidecar = path.with_name(path.name + ".sha256")
    assert sidecar.read_text() == f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n"
    if shutil.which("sha256sum"):
        done = subprocess.run(["sha256sum", "-c", sidecar.name], cwd=path.parent, capture_output=True, text=True)
        assert done.returncode == 0 and done.stdout.strip() == f"{path.name}: OK", done


def test_a_run_file_stopped_between_its_renames_leaves_no_checksum_alone(tmp_path, monkeypatch):
    import sim.storage.store as store

    real = store.os.replace

    def stopped(src, dst):
        if str(dst).endswith(".parquet"):
            raise KeyboardInterrupt
        return real(src, dst)

    monkeypatch.setattr(store.os, "replace", stopped)
    with pytest.raises(KeyboardInterrupt):
        write_run_file(FRAME, tmp_path, "a__p000000__r0001", SWEEP)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == []


def test_a_writer_that_fails_leaves_no_file(tmp_path):
    final = tmp_path / "runs" / "x.parquet"

    def broken(tmp):
        tmp.write_bytes(b"PAR1 half a file")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        replace_atomically(tmp_path, final, broken)
    assert not final.exists()
    assert list((tmp_path / TMP).iterdir()) == []


def test_an_existing_result_is_replaced_whole(tmp_path):
    first = write_run_file(FRAME, tmp_path, "r", SWEEP)
    write_run_file(FRAME.assign(value=[9.0, 9.0]), tmp_path, "r", SWEEP)
    assert pd.read_parquet(first)["value"].tolist() == [9.0, 9.0]


def test_folder_lock_is_exclusive_and_released(tmp_path):
    with folder_lock(tmp_path), pytest.raises(FolderBusy, match="another sweep"), folder_lock(tmp_path):
        pass
    with folder_lock(tmp_path):  # released on exit
        pass


def test_write_folder_replaces_or_leaves_the_old_one(tmp_path):
    def files(text, *names):
        manifest = {"schema_version": 1, "kind": "compare", "files": {n: "" for n in ("a.txt", *names)}}
        return {"manifest.json": json.dumps(manifest), "a.txt": text} | {n: b"\x00\x01" for n in names}

    out = tmp_path / "cmp"
    write_folder(out, files("one", "sub/b.bin"), "compare")
    assert (out / "a.txt").read_text() == "one" and (out / "sub" / "b.bin").read_bytes() == b"\x00\x01"
    write_folder(out, files("two"), "compare")
    assert (out / "a.txt").read_text() == "two" and not (out / "sub").exists()

    with pytest.raises(TypeError):  # the second file cannot be written: the first must not land either
        write_folder(out, {"a.txt": "three", "b.txt": object()}, "compare")
    assert (out / "a.txt").read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp"]  # no temporary folder left


def test_the_manifest_versions_are_the_installed_distributions_versions(monkeypatch):
    """versions() reads each version from its metadata's header lines (issue 20: faster than
    `importlib.metadata.version`, which parses the whole file); it must say what that says."""
    from importlib import metadata

    from sim.storage.store import PACKAGES, versions

    found = versions()
    for name in ("teachersim", *PACKAGES):
        try:
            expected = metadata.version(name)
        except metadata.PackageNotFoundError:
            expected = "not installed"
        assert found[name] == expected, name
    monkeypatch.setattr(metadata, "version", lambda name: "parsed the whole file")  # the header scan needs none
    assert versions() == found
