"""Writing result files: each file atomically (temporary name, then rename), and each command's files all
or nothing (`staged_outputs`): they are written into a staging directory beside their destination and
moved in together at the end, so an error or a Ctrl-C halfway leaves no partial set (ops.csv without
its PNGs) and no half-written file."""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from hwsim.io.interrupts import raise_if_interrupted, sigint_deferred

STAGING_PREFIX = ".hwsim-staging-"
commits = 0  # sets of files moved into place in this process (the CLI says whether a Ctrl-C came after one)


def check_out_dir(path, flag: str = "--out") -> Path:
    """The output directory, checked but not created: an existing file there is one clear error."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"{flag}: expected a directory, given an existing file {p}")
    return p


def out_dir(path, flag: str = "--out") -> Path:
    p = check_out_dir(path, flag)
    p.mkdir(parents=True, exist_ok=True)
    return p


def _existing_ancestor(p: Path) -> Path:
    p = p.absolute()
    while not p.exists():
        p = p.parent
    return p


class Staging:
    """Where a command writes: `stage / "ops.csv"` is a path in the staging directory for --out DIR,
    `stage.file(path)` one for a file elsewhere (e.g. --trace-json); `stage.dir` is the final DIR."""

    def __init__(self, out_dir: Path, flag: str = "--out"):
        self.dir, self.flag = out_dir, flag
        self._dirs: dict[Path, Path] = {}   # destination directory -> its staging directory
        self._moves: list[tuple[Path, Path]] = []  # (staged file, destination)

    def _staging_dir(self, dest_dir: Path) -> Path:
        dest_dir = dest_dir.absolute()
        if dest_dir not in self._dirs:
            # beside the destination (its nearest existing ancestor), so the final moves are renames on
            # one file system; hidden, and removed whatever happens
            self._dirs[dest_dir] = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=_existing_ancestor(dest_dir)))
        return self._dirs[dest_dir]

    def file(self, dest) -> Path:
        dest = Path(dest)
        if dest.is_dir():
            raise ValueError(f"{dest}: is a directory; expected a file path")
        ancestor = _existing_ancestor(dest.parent)
        if not ancestor.is_dir():
            raise ValueError(f"{dest}: cannot create a directory there, {ancestor} is a file")
        staged = self._staging_dir(dest.parent) / f"{len(self._moves)}-{dest.name}"
        self._moves.append((staged, dest))
        return staged

    def folder(self) -> Path:
        """The staging directory for --out DIR itself (see staged_out_dir)."""
        return self._staging_dir(self.dir)

    def adopt(self, folder: Path) -> None:
        """Move every file written straight into `folder` (the staging directory) into DIR at the commit."""
        for f in sorted(folder.iterdir()):
            if f.is_file() and (f, self.dir / f.name) not in self._moves:
                self._moves.append((f, self.dir / f.name))

    def __truediv__(self, name: str) -> Path:
        return self.file(self.dir / name)

    def commit(self) -> None:
        raise_if_interrupted()  # a Ctrl-C swallowed on the way (see interrupts) still stops the commit
        moves = [(s, d) for s, d in self._moves if s.exists()]
        for _, dest in moves:
            if dest.is_dir():
                raise ValueError(f"{dest}: is a directory; cannot write a file there")
        for _, dest in moves:
            check_out_dir(dest.parent, self.flag if dest.parent == self.dir else str(dest))
        global commits
        with sigint_deferred():
            commits += 1
            for staged, dest in moves:
                dest.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.replace(staged, dest)
                except OSError:  # another file system after all (a mount below the ancestor): copy, then rename
                    shutil.move(str(staged), str(dest))

    def cleanup(self) -> None:
        for d in self._dirs.values():
            shutil.rmtree(d, ignore_errors=True)


@contextmanager
def staged_outputs(out_dir, flag: str = "--out"):
    """All of a command's files or none of them: write them through the yielded Staging; they move into
    place when the block ends without an exception (and without a swallowed Ctrl-C)."""
    stage = Staging(check_out_dir(out_dir, flag), flag)
    try:
        yield stage
        stage.commit()
    finally:
        stage.cleanup()


def write_bytes(path, data: bytes) -> Path:
    """Put `data` at `path` whole: written under a hidden name beside it, then renamed (a reader, a resumed
    sweep or a Ctrl-C never sees half a file)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_csv(df, path) -> Path:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        df.to_csv(tmp, index=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def save_figure(fig, path, dpi: int = 120, tight: bool = True) -> Path:
    """tight=False skips the extra layout pass of bbox_inches="tight" (figures that lay themselves out)."""
    import matplotlib.pyplot as plt

    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    try:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight" if tight else None)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    raise_if_interrupted()
    return path


@contextmanager
def staged_out_dir(path, flag: str = "--out"):
    """staged_outputs for code that writes into a folder: yields the staging folder itself; the files in it
    move into `path` together when the block ends without an error (or a swallowed Ctrl-C)."""
    with staged_outputs(path, flag) as stage:
        folder = stage.folder()
        yield folder
        stage.adopt(folder)
