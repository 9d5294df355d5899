"""Hypothesis draws the same examples on every run (derandomize: a seed from each test itself), so that the
suite on a clean clone, as CI runs it, is reproducible: a law that fails, fails every time, and one that
holds does not fail at random on the next commit. HWSIM_HYPOTHESIS_RANDOM=1 draws fresh examples on each
run (a hunt; with HWSIM_LAW_EXAMPLES=3000 a long one), which is how the laws' edge cases were found."""
import os

from hypothesis import settings

settings.register_profile("hwsim", derandomize=not os.environ.get("HWSIM_HYPOTHESIS_RANDOM"))
settings.load_profile("hwsim")
