"""The area model for sweep tests: hwsim.area when installed, else the stand-in of sweep_helpers (tests only)."""
from __future__ import annotations

import sys
import types

import pytest

from tests.hwsim.explore.sweep_helpers import stand_in_area_mm2


@pytest.fixture
def area_model(monkeypatch):
    """hwsim.area.area_mm2 if the area model is installed; otherwise the stand-in above, for this test only."""
    try:
        from hwsim.area import area_mm2
        return area_mm2
    except ImportError:
        fake = types.ModuleType("hwsim.area")
        fake.area_mm2 = stand_in_area_mm2
        monkeypatch.setitem(sys.modules, "hwsim.area", fake)
        return stand_in_area_mm2
