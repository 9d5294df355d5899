"""Model presets are plain data: reading one must not import torch (a sweep resolves presets by the thousand,
and torch takes seconds to import)."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_presets_load_without_torch():
    code = ("import sys, models; p = models.get_preset('memoryformer-base'); n = len(models.PRESETS); "
            "print(p.hidden_size, n, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.split() == ["1024", "6", "False"]


def test_module_names_still_load_on_first_use():
    import models

    assert models.MemoryFormerBlock.__name__ == "MemoryFormerBlock"
    assert models.attention.causal_attention is not None
