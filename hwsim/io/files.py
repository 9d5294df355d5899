"""Writing result files: atomically (temporary name, then rename), so no half-written file is left."""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


def out_dir(path) -> Path:
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"--out: expected a directory, given an existing file {p}")
    p.mkdir(parents=True, exist_ok=True)
    return p


def write_csv(df, path) -> Path:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return path


def save_figure(fig, path) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path


@contextmanager
def staged_out_dir(path):
    """All of a command's files or none: yields a fresh temporary folder beside `path`; when the block ends
    without an error its files move into `path` (created if need be), else it is removed with them."""
    final = Path(path)
    if final.exists() and not final.is_dir():
        raise ValueError(f"--out: expected a directory, given an existing file {final}")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
        final.mkdir(exist_ok=True)
        for f in sorted(tmp.iterdir()):
            os.replace(f, final / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
