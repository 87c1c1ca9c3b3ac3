"""sim.files.read_regular (and open_regular beneath it), the one reader of a user's file: every
layer that reads a file a user names (rosters, configuration, storage, the reports) calls it, and
each refusal says which check failed without blocking on a FIFO."""

from __future__ import annotations

import os
import threading

import pytest

import sim.config.scenario
import sim.storage.folders
import sim.storage.manifests
import sim.storage.results
import sim.world.roster
from sim.config.scenario import ScenarioError, read_text
from sim.files import FileRefused, open_regular, read_regular


def test_configuration_and_storage_read_files_with_the_one_reader():
    for module in (sim.config.scenario, sim.storage.folders, sim.storage.manifests, sim.storage.results):
        assert module.read_regular is read_regular, module.__name__
    assert sim.world.roster.open_regular is open_regular  # a roster is read in pieces from the open file


def refusal(path, limit: int = 100, **options) -> FileRefused:
    with pytest.raises(FileRefused) as caught:
        read_regular(path, limit, **options)
    return caught.value


def test_each_refusal_names_its_check(tmp_path):
    (tmp_path / "ok.txt").write_bytes(b"hello")
    (tmp_path / "big.txt").write_bytes(b"x" * 101)
    (tmp_path / "link.txt").symlink_to(tmp_path / "ok.txt")
    os.mkfifo(tmp_path / "pipe")
    assert read_regular(tmp_path / "ok.txt", 100) == b"hello"
    assert read_regular(tmp_path / "link.txt", 100, follow_links=True) == b"hello"
    cases = {"missing.txt": ("missing", "No such file or directory"), "link.txt": ("link", "is a symbolic link"),
             ".": ("folder", "not a regular file"), "pipe": ("special", "not a regular file"),
             "big.txt": ("too large", "101 bytes, more than the 100 allowed")}
    for name, (reason, words) in cases.items():
        exc = refusal(tmp_path / name)
        assert (exc.reason, str(exc)) == (reason, words), name


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    found = []
    thread = threading.Thread(target=lambda: found.append(refusal(tmp_path / "pipe", follow_links=True)), daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "blocked reading a FIFO"
    assert found[0].reason == "special"


def test_the_configuration_layer_says_each_refusal_in_its_own_words(tmp_path):
    (tmp_path / "big.yaml").write_bytes(b"x" * 101)
    words = {"missing.yaml": "file not found", ".": "is a folder, not a regular file",
             "big.yaml": "larger than 100 bytes; refused"}
    for name, expected in words.items():
        with pytest.raises(ScenarioError) as caught:
            read_text(tmp_path / name, 100)
        assert str(caught.value) == f"{tmp_path / name}: {expected}"
