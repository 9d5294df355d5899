"""The machine of the DES, built from an Accelerator: where delays and bandwidths live.

- compute engines (matrix, vector, hash unit): simpy Resources of capacity 1; a kernel (or one tile of
  it) holds its engine for its service time;
- DRAM: `channels` FIFO servers of bandwidth / channels each, with `latency` on the way back; one queue
  per channel serves every byte: streams at the copy efficiency, row reads at the gather curve's
  efficiency for their size (where the config gives `row_buffer`, one open row per bank: a read into
  the open row moves at the streaming rate). Bytes that share a channel add their times, so no kernel
  beats its bytes / peak bandwidth; table prefetches are background work that kernels' reads and
  writes overtake;
- on-chip SRAM (the cache level nearest DRAM): one FIFO server at its bandwidth;
- lookup banks: `lookup.banks` FIFO servers, one access per cycle each, one queue per bank;
- the thread pool of Little's law (GPUs and CPUs): one FIFO server; a row read occupies
  1 / threads_in_flight of it for one memory latency;
- the table store of on-chip lookup memories: a simpy Container of `lookup.capacity` bytes.

Servers are FIFO queues kept as "free at" times (numpy arrays for banks and channels): a request
arriving at `now` starts at max(now, free_at) and the server is busy for its work. Requests reach a
server in simulation-time order, so this is exactly a FIFO queue, served in one numpy step for a whole
token's (or tile's) requests instead of one simpy event per access.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import simpy


class Server:
    """One FIFO server; work in seconds."""

    def __init__(self, name: str):
        self.name, self.free_at, self.busy_s, self.queue_s = name, 0.0, 0.0, 0.0

    def serve(self, now: float, work_s: float) -> float:
        if work_s <= 0:
            return now
        start = self.free_at if self.free_at > now else now
        self.queue_s += start - now
        self.free_at = start + work_s
        self.busy_s += work_s
        return self.free_at


class ServerArray:
    """`n` FIFO servers (banks, channels); `serve` takes the work of one request batch per server.
    With background=True the servers also take low-priority work (prefetches) that any foreground
    request overtakes: foreground work pushes back the background work it lands in the middle of."""

    def __init__(self, name: str, n: int, background: bool = False):
        self.name, self.n = name, n
        self.free_at = np.zeros(n)
        self.bg_free_at = np.zeros(n) if background else None
        self.bg_until = 0.0  # latest background finish: no background work is pending after it
        self.busy_s = np.zeros(n)
        self.queue_s = 0.0

    def serve(self, now: float, work_s: np.ndarray) -> float:
        """Finish time of the last touched server (now when nothing is asked)."""
        touched = work_s > 0
        start = np.maximum(self.free_at, now)
        finish = start + work_s
        np.copyto(self.free_at, finish, where=touched)
        self.busy_s += work_s
        self.queue_s += float(np.dot(start - now, touched))
        if self.bg_until > now:
            self._push_background(start, work_s)
        return float(finish.max(where=touched, initial=now))

    def serve_evenly(self, now: float, work_each_s: float) -> float:
        """The same work on every server (a stream spread over all channels)."""
        if work_each_s <= 0:
            return now
        start = np.maximum(self.free_at, now)
        self.queue_s += float((start - now).sum())
        self.free_at = start + work_each_s
        self.busy_s += work_each_s
        if self.bg_until > now:
            self._push_background(start, work_each_s)
        return float(self.free_at.max())

    def _push_background(self, start, work_s) -> None:
        """Foreground work landing in the middle of queued background work delays it."""
        self.bg_free_at = np.where(self.bg_free_at > start, self.bg_free_at + work_s, self.bg_free_at)
        self.bg_until = float(self.bg_free_at.max())

    def serve_background(self, now: float, work_each_s: float) -> float:
        """Low-priority work spread evenly: it starts after all queued work and yields to later arrivals."""
        start = np.maximum(np.maximum(self.bg_free_at, self.free_at), now)
        self.bg_free_at = start + work_each_s
        self.busy_s += work_each_s
        self.bg_until = float(self.bg_free_at.max())
        return self.bg_until


class Dram(ServerArray):
    def __init__(self, cfg):
        super().__init__("dram", cfg.channels, background=True)
        self.latency_s = cfg.latency_s
        # a stream moves bytes at the copy efficiency, spread over all channels
        self.stream_s_per_byte = cfg.channels / cfg.sustained_bandwidth_bytes_per_s
        self.open_row = np.full((cfg.channels, cfg.banks_per_channel), -1, dtype=np.int64) \
            if cfg.row_buffer_bytes else None
        self.row_hits = self.row_misses = 0

    def stream(self, now: float, nbytes: float, background: bool = False) -> float:
        if nbytes <= 0:
            return now
        work = nbytes / self.n * self.stream_s_per_byte
        return self.serve_background(now, work) if background else self.serve_evenly(now, work)

    def rows(self, now: float, channel, bank, page, nbytes, miss_s_per_byte: float) -> float:
        """Row reads (chunks of one DRAM row each) on the same channel queues as the streams: a read into
        the open row moves its bytes at the streaming rate; one that opens a row holds its channel for what
        random gathers of that size reach (the gather curve: activations, not bytes, limit them). One queue
        per channel serves both, so a kernel's row reads and its streamed indices and output add up, as
        bytes that share one DRAM must (no op beats bytes / peak bandwidth)."""
        if len(channel) == 0:
            return now
        work = nbytes * miss_s_per_byte
        if self.open_row is not None:
            hit = self.open_row[channel, bank] == page
            self.open_row[channel, bank] = page
            n_hit = int(hit.sum())
            self.row_hits += n_hit
            self.row_misses += len(channel) - n_hit
            if n_hit:
                work = np.where(hit, nbytes * self.stream_s_per_byte, work)
        else:
            self.row_misses += len(channel)
        return self.serve(now, np.bincount(channel, weights=work, minlength=self.n))


class Timeline:
    """(resource, op, start_s, end_s) intervals; touching or overlapping intervals of the same
    resource and op merge, so a fine-mode run does not keep one entry per token."""

    def __init__(self):
        self.rows: list[list] = []
        self._last: dict[tuple[str, str], int] = {}

    def add(self, resource: str, op: str, start: float, end: float) -> None:
        if end <= start:
            return
        i = self._last.get((resource, op))
        if i is not None and start <= self.rows[i][3] + 1e-15:
            self.rows[i][3] = max(self.rows[i][3], end)
            return
        self._last[(resource, op)] = len(self.rows)
        self.rows.append([resource, op, start, end])

    def intervals(self, offset: float = 0.0) -> list[tuple]:
        return [(r, o, s - offset, e - offset) for r, o, s, e in self.rows]


class Machine:
    """The resources of one Accelerator in one simpy Environment, and their bookkeeping."""

    def __init__(self, env: simpy.Environment, accel, progress):
        self.env, self.accel, self.progress = env, accel, progress
        self.units = {"matrix": simpy.Resource(env, 1), "vector": simpy.Resource(env, 1)}
        if accel.compute.hash_unit is not None:
            self.units["hash"] = simpy.Resource(env, 1)
        self.dram = Dram(accel.memory.dram)
        cache = accel.memory.sram[0] if accel.memory.sram else None
        self.sram = Server(cache.name if cache else "sram")
        self.sram_s_per_byte = 1.0 / cache.bandwidth_bytes_per_s if cache else 0.0
        lk = accel.lookup
        self.banks = ServerArray("lookup banks", lk.banks) if lk.placement in ("on_chip", "near_memory") else None
        self.threads = Server("threads") if accel.compute.threads_in_flight else None
        self.table_store = simpy.Container(env, capacity=lk.capacity_bytes, init=lk.capacity_bytes) \
            if lk.placement == "on_chip" else None
        self.timeline = Timeline()
        self.busy_s: dict[str, float] = defaultdict(float)       # engine -> seconds held
        self.queue_s: dict[tuple[str, str], float] = defaultdict(float)  # (resource, op) -> seconds waited

    def unit(self, name: str):
        """The engine a kernel of `unit` holds (None: memory only, lookups handle their own)."""
        if name == "hash" and "hash" not in self.units:
            name = "vector"
        return self.units.get(name)

    def hold(self, unit: str, op: str, start: float, end: float) -> None:
        self.busy_s[unit] += end - start
        self.timeline.add(unit, op, start, end)
