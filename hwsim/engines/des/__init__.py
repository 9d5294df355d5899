"""Discrete-event engine (simpy): the Workload's kernels replayed on queued resources built from the Accelerator.

engine (the run and its options) -> resources (matrix/vector/hash engines, DRAM channels, cache, lookup banks)
and processes (kernels, lookups, table streaming), streams (index streams and their tiling), then report
(Result rows and explanations, with explain). See engine.py for how a run proceeds."""
from hwsim.engines.des.engine import simulate_des

__all__ = ["simulate_des"]
