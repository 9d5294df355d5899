"""Writing result files: atomically (temporary name, then rename), so no half-written file is left."""
from __future__ import annotations

import os
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
