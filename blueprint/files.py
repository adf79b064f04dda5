"""Writing files so that a kill at any moment leaves either the old file or the new one.

Every file Blueprint writes that another process may read, or that a resumed
run relies on (model folders, settings, logs, checkpoints, benchmark files),
goes through one of these: write a temporary sibling, flush it to disk, then
rename it into place. A rename within one file system is atomic, so a reader
never sees half a file. `locked` serialises read-modify-write cycles between
processes (stages training side by side into one folder) with `filelock`.
"""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from filelock import FileLock


def temporary_sibling(path: Path) -> Path:
    """A name beside `path` that no other process uses (the pid is in it)."""
    path = Path(path)
    return path.with_name(f"{path.name}.tmp-{os.getpid()}")


def fsync_path(path: Path) -> None:
    """Flush a file, or a folder's entries (a rename inside it), to disk (a no-op where a
    folder cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def atomic_write_json(path: Path, value) -> Path:
    return atomic_write_text(path, json.dumps(value, indent=1) + "\n")


def atomic_write_with(path: Path, write: Callable[[Path], None]) -> Path:
    """`write(tmp)` writes a file (a library's own writer, e.g. safetensors), then it moves into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def replace_folder_files(folder: Path, write: Callable[[Path], None], last: str | None = None) -> Path:
    """`write(tmp_dir)` fills a temporary folder; each of its files then replaces its namesake in `folder`
    (sub-folders likewise), the top-level entry named `last` after all the others.

    Files of `folder` that `write` does not produce stay. Each file is swapped
    atomically: a reader sees a whole old or a whole new file, never a torn one.
    """
    folder = Path(folder)
    tmp = temporary_sibling(folder)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        write(tmp)
        _move_into(tmp, folder, last)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _move_into(source: Path, target: Path, last: str | None = None) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for entry in sorted(source.iterdir(), key=lambda p: (p.name == last, p.name)):
        if entry.is_dir():
            _move_into(entry, target / entry.name)
        else:
            os.replace(entry, target / entry.name)
    fsync_path(target)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive inter-process lock on `path` (through `path.lock`)."""
    path = Path(path)
    with FileLock(str(path.with_name(path.name + ".lock"))):
        yield
