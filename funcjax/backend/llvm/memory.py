"""The static memory plan: every intermediate buffer gets an offset in one workspace arena.

Lowering walks the program in order with a clock that ticks once per equation. A buffer is
allocated when its equation runs and released after the last equation that reads it (liveness
comes from ``fusion.analyse``); released space is reused first-fit by later buffers. The plan
is complete when lowering ends, before any code runs: the arena's size is its high-water mark.
"""

ALIGN = 64


class Allocation:
    __slots__ = ("offset", "size", "label", "start", "end")

    def __init__(self, offset, size, label, start):
        self.offset, self.size, self.label, self.start, self.end = offset, size, label, start, None

    def __repr__(self):
        return (f"Allocation({self.label}: bytes [{self.offset}, {self.offset + self.size}), "
                f"ticks [{self.start}, {self.end}])")


class Arena:
    """First-fit allocator over offsets; remembers every allocation for reports and tests."""

    def __init__(self):
        self.free = []  # sorted (offset, size) holes below ``top``
        self.top = 0
        self.records = []

    def allocate(self, nbytes, label, tick):
        size = max(ALIGN, -(-nbytes // ALIGN) * ALIGN)
        for k, (offset, hole) in enumerate(self.free):
            if hole >= size:
                if hole == size:
                    del self.free[k]
                else:
                    self.free[k] = (offset + size, hole - size)
                break
        else:
            offset = self.top
            self.top += size
        alloc = Allocation(offset, size, label, tick)
        self.records.append(alloc)
        return alloc

    def release(self, alloc, tick):
        alloc.end = tick
        self.free.append((alloc.offset, alloc.size))
        self.free.sort()
        merged = []
        for offset, size in self.free:
            if merged and merged[-1][0] + merged[-1][1] == offset:
                merged[-1] = (merged[-1][0], merged[-1][1] + size)
            else:
                merged.append((offset, size))
        self.free = merged

    @property
    def size(self):
        return self.top

    @property
    def total_requested(self):
        return sum(a.size for a in self.records)


def overlapping_live_pairs(records):
    """Pairs of allocations live at one tick whose bytes overlap (a correct plan has none)."""
    bad = []
    for i, a in enumerate(records):
        for c in records[i + 1:]:
            live_together = a.start <= c.end and c.start <= a.end
            bytes_overlap = a.offset < c.offset + c.size and c.offset < a.offset + a.size
            if live_together and bytes_overlap:
                bad.append((a, c))
    return bad


class MemoryStats:
    """What ``Compiled.memory_analysis()`` returns (field names follow JAX's)."""

    def __init__(self, argument_bytes, output_bytes, alias_bytes, arena):
        self.argument_size_in_bytes = argument_bytes
        self.output_size_in_bytes = output_bytes
        self.alias_size_in_bytes = alias_bytes  # outputs written into donated arguments
        self.temp_size_in_bytes = arena.size
        self.temp_size_without_reuse_in_bytes = arena.total_requested
        self.reuse_saved_in_bytes = arena.total_requested - arena.size
        self.allocations = list(arena.records)

    def __repr__(self):
        return (f"MemoryStats(argument={self.argument_size_in_bytes} B, "
                f"output={self.output_size_in_bytes} B (aliased to donated arguments: "
                f"{self.alias_size_in_bytes} B), temp={self.temp_size_in_bytes} B, "
                f"saved by reuse={self.reuse_saved_in_bytes} B)")
