"""Large output buffers kept for reuse: a numpy memory handler for compiled programs' outputs.

A fresh 40 MB output is about 10,000 pages the kernel must map and zero on first touch: a
quarter of a one-thread 1e7-element fused chain (``bench_jitperf.py --output-reuse``), and a
cost that does not shrink with more threads. So outputs of ``MIN_BYTES`` and more are
allocated through a numpy ``PyDataMem_Handler`` of our own (set only around that ``np.empty``):
when such an array dies, numpy hands its memory to the handler's ``free``, which keeps the
block (already mapped) in a small table instead of returning it to the C library; the next
output of exactly that size takes it back. The arrays are ordinary numpy arrays that own
their data (donation, views, pickling see no difference); only where the memory goes after
them differs.

At most ``funcjax_output_pool_bytes`` of free blocks are kept (default 256 MiB, 0 turns the
pool off); the oldest freed go first. ``held_bytes()`` says what is kept now;
``funcjax.clear_caches()`` returns it all. The handler's functions are generated in LLVM IR
(no Python runs in them: arrays may die during interpreter shutdown) and every call happens
with the GIL held (numpy allocates and frees array data under it), so the table needs no lock;
without a GIL (free-threaded builds) or with a numpy whose C-API table differs, there is no
pool and outputs come from ``np.empty`` as before. Generated jit entries (``fast_call``) set
the same handler around their own allocation of large outputs (``native_handler``).
"""

import ctypes
import functools
import math
import sys

import numpy as np
from llvmlite import ir

from funcjax.backend.llvm import compiler
from funcjax.backend.llvm.loops import for_range
from funcjax.config import config

MIN_BYTES = 1 << 20
SLOTS = 32
_API_SET_HANDLER = 304  # PyDataMem_SetHandler in numpy's C-API table (checked at build)
_API_GET_HANDLER = 305
I64, PTR = ir.IntType(64), ir.PointerType()
_HUGE_PAGES_FROM = 1 << 22  # numpy's threshold for advising huge pages on fresh memory
_MADV_HUGEPAGE = 14
# the table, in 64-bit words: bytes held, their cap, a clock, whether numpy advises huge
# pages (``np._core.multiarray._get_madvise_hugepage``), then (address, size, time) per slot
_HELD, _CAP, _CLOCK, _HUGE, _FIRST = 0, 1, 2, 3, 4
_WORDS = _FIRST + 3 * SLOTS


def _i64(value):
    return ir.Constant(I64, value)


def _ir():
    """``pool_malloc/calloc/realloc/free`` (numpy's ``PyDataMemAllocator``) and ``pool_trim``
    over the table at ``ctx``."""
    module = ir.Module("funcjax_output_pool")
    size_t = I64
    c_malloc = ir.Function(module, ir.FunctionType(PTR, [size_t]), "malloc")
    c_calloc = ir.Function(module, ir.FunctionType(PTR, [size_t, size_t]), "calloc")
    c_realloc = ir.Function(module, ir.FunctionType(PTR, [PTR, size_t]), "realloc")
    c_free = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR]), "free")
    madvise = ir.Function(module, ir.FunctionType(ir.IntType(32), [PTR, size_t, ir.IntType(32)]),
                          "madvise")

    def word(b, table, k):
        return b.gep(table, [k if isinstance(k, ir.Value) else _i64(k)],
                     source_etype=I64)

    def slot(b, table, i, field):  # field 0: address, 1: size, 2: time freed
        return word(b, table, b.add(_i64(_FIRST + field), b.mul(i, _i64(3))))

    def cells(b):  # ``find``'s two locals, made in a function's entry block
        return b.alloca(I64), b.alloca(I64)

    def find(b, table, better, locals_):
        """The slot ``better(b, size, time, best, best_time)`` picks over the others (-1:
        none), scanning in order."""
        best, best_time = locals_
        b.store(_i64(-1), best)
        b.store(_i64(-1), best_time)
        with for_range(b, SLOTS) as i:
            size = b.load(slot(b, table, i, 1), typ=I64)
            time = b.load(slot(b, table, i, 2), typ=I64)
            pick = better(b, size, time, b.load(best, typ=I64), b.load(best_time, typ=I64))
            b.store(b.select(pick, i, b.load(best, typ=I64)), best)
            b.store(b.select(pick, time, b.load(best_time, typ=I64)), best_time)
        return b.load(best, typ=I64)

    def release(b, table, i):
        """Empties slot ``i``; returns its address and size."""
        address = b.load(slot(b, table, i, 0), typ=PTR)
        size = b.load(slot(b, table, i, 1), typ=I64)
        b.store(_i64(0), slot(b, table, i, 1))
        held = word(b, table, _HELD)
        b.store(b.sub(b.load(held, typ=I64), size), held)
        return address, size

    def oldest(b, size, time, best, best_time):
        return b.and_(b.icmp_signed(">", size, _i64(0)),
                      b.or_(b.icmp_signed("<", best, _i64(0)),
                            b.icmp_signed("<", time, best_time)))

    # pool_trim(table, keep): frees the oldest blocks until at most ``keep`` bytes are held
    trim = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, I64]), "pool_trim")
    table, keep = trim.args
    b = ir.IRBuilder(trim.append_basic_block("entry"))
    locals_ = cells(b)
    test, evict, done = (trim.append_basic_block(n) for n in ("test", "evict", "done"))
    b.branch(test)
    b.position_at_end(test)
    over = b.icmp_signed(">", b.load(word(b, table, _HELD), typ=I64), keep)
    b.cbranch(over, evict, done)
    b.position_at_end(evict)
    address, _ = release(b, table, find(b, table, oldest, locals_))
    b.call(c_free, [address])
    b.branch(test)
    b.position_at_end(done)
    b.ret_void()

    # malloc(table, size): the newest kept block of exactly ``size`` bytes, else the C library's
    fn = ir.Function(module, ir.FunctionType(PTR, [PTR, size_t]), "pool_malloc")
    table, size = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    locals_ = cells(b)
    search, reuse, fresh = (fn.append_basic_block(n) for n in ("search", "reuse", "fresh"))
    b.cbranch(b.icmp_unsigned(">=", size, _i64(MIN_BYTES)), search, fresh)
    b.position_at_end(search)

    def newest_of_size(b, slot_size, time, best, best_time):
        return b.and_(b.icmp_signed("==", slot_size, size),
                      b.icmp_signed(">", time, best_time))
    found = find(b, table, newest_of_size, locals_)
    b.cbranch(b.icmp_signed(">=", found, _i64(0)), reuse, fresh)
    b.position_at_end(reuse)
    address, _ = release(b, table, found)
    b.ret(address)
    b.position_at_end(fresh)  # as numpy's own allocator: huge pages advised past 4 MiB
    address = b.call(c_malloc, [size])
    advise, advised = fn.append_basic_block("advise"), fn.append_basic_block("advised")
    wanted = b.and_(b.icmp_unsigned(">=", size, _i64(_HUGE_PAGES_FROM)),
                    b.icmp_signed("!=", b.load(word(b, table, _HUGE), typ=I64), _i64(0)))
    wanted = b.and_(wanted, b.icmp_unsigned("!=", b.ptrtoint(address, I64), _i64(0)))
    b.cbranch(wanted, advise, advised)
    b.position_at_end(advise)  # from the first page boundary inside the block
    skip = b.sub(_i64(4096), b.urem(b.ptrtoint(address, I64), _i64(4096)))
    b.call(madvise, [b.gep(address, [skip], source_etype=ir.IntType(8)), b.sub(size, skip),
                     ir.Constant(ir.IntType(32), _MADV_HUGEPAGE)])
    b.branch(advised)
    b.position_at_end(advised)
    b.ret(address)

    fn = ir.Function(module, ir.FunctionType(PTR, [PTR, size_t, size_t]), "pool_calloc")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    b.ret(b.call(c_calloc, fn.args[1:]))
    fn = ir.Function(module, ir.FunctionType(PTR, [PTR, PTR, size_t]), "pool_realloc")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    b.ret(b.call(c_realloc, fn.args[1:]))

    # free(table, address, size): kept in a slot (the oldest blocks make room) unless the
    # block is small, or larger than the cap
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, PTR, size_t]), "pool_free")
    table, address, size = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    locals_, target = cells(b), b.alloca(I64)
    keep, give_back = fn.append_basic_block("keep"), fn.append_basic_block("give_back")
    cap = b.load(word(b, table, _CAP), typ=I64)
    kept = b.and_(b.icmp_unsigned(">=", size, _i64(MIN_BYTES)),
                  b.icmp_unsigned("<=", size, cap))
    kept = b.and_(kept, b.icmp_unsigned("!=", b.ptrtoint(address, I64), _i64(0)))
    b.cbranch(kept, keep, give_back)
    b.position_at_end(keep)
    b.call(trim, [table, b.sub(cap, size)])

    def first_empty(b, slot_size, time, best, best_time):
        return b.and_(b.icmp_signed("==", slot_size, _i64(0)),
                      b.icmp_signed("<", best, _i64(0)))
    b.store(find(b, table, first_empty, locals_), target)
    full, store = fn.append_basic_block("full"), fn.append_basic_block("store")
    b.cbranch(b.icmp_signed("<", b.load(target, typ=I64), _i64(0)), full, store)
    b.position_at_end(full)  # every slot taken: the oldest block goes
    b.store(find(b, table, oldest, locals_), target)
    old_address, _ = release(b, table, b.load(target, typ=I64))
    b.call(c_free, [old_address])
    b.branch(store)
    b.position_at_end(store)
    target = b.load(target, typ=I64)
    clock = word(b, table, _CLOCK)
    now = b.add(b.load(clock, typ=I64), _i64(1))
    b.store(now, clock)
    b.store(address, slot(b, table, target, 0))
    b.store(size, slot(b, table, target, 1))
    b.store(now, slot(b, table, target, 2))
    held = word(b, table, _HELD)
    b.store(b.add(b.load(held, typ=I64), size), held)
    b.ret_void()
    b.position_at_end(give_back)
    b.call(c_free, [address])
    b.ret_void()
    return str(module)


class _Allocator(ctypes.Structure):
    _fields_ = [("ctx", ctypes.c_void_p), ("malloc", ctypes.c_void_p),
                ("calloc", ctypes.c_void_p), ("realloc", ctypes.c_void_p),
                ("free", ctypes.c_void_p)]


class _Handler(ctypes.Structure):  # numpy's PyDataMem_Handler, version 1
    _fields_ = [("name", ctypes.c_char * 127), ("version", ctypes.c_uint8),
                ("allocator", _Allocator)]


_NAME = b"mem_handler"


class _Pool:
    """The compiled handler and its table. Never freed: arrays allocated through it may
    outlive every Python object, up to interpreter shutdown."""

    def __init__(self, api):
        self.engine = compiler.compile_ir(_ir(), cacheable=False, cold=True)
        libc = ctypes.CDLL(None)
        libc.calloc.restype = ctypes.c_void_p
        libc.calloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
        self.table = (ctypes.c_int64 * _WORDS).from_address(libc.calloc(_WORDS, 8))
        handler = _Handler.from_address(libc.calloc(1, ctypes.sizeof(_Handler)))
        handler.name, handler.version = b"funcjax_output_pool", 1
        handler.allocator = _Allocator(ctypes.addressof(self.table), *[
            self.engine.address(f"pool_{f}") for f in ("malloc", "calloc", "realloc", "free")])
        new_capsule = ctypes.pythonapi.PyCapsule_New
        new_capsule.restype = ctypes.py_object
        new_capsule.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
        self.capsule = new_capsule(ctypes.addressof(handler), _NAME, None)
        self.set_handler = api[_API_SET_HANDLER]  # (native entries call it directly)
        self._swap = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)(self.set_handler)
        self._trim = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64)(
            self.engine.address("pool_trim"))
        for keep in (self, self.engine, self.capsule):  # immortal (see the class docstring)
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(keep))
        self.set_cap(config.funcjax_output_pool_bytes)

    def empty(self, shape, dtype):
        """``np.empty(shape, dtype)`` with its memory from the pool."""
        self.table[_HUGE] = np._core.multiarray._get_madvise_hugepage()
        previous = self._swap(id(self.capsule))
        if previous is None:  # the C-API raised (it does not, but then: no pool)
            return np.empty(shape, dtype)
        try:
            return np.empty(shape, dtype)
        finally:
            ours = self._swap(previous)
            ctypes.pythonapi.Py_DecRef(ctypes.c_void_p(ours))
            ctypes.pythonapi.Py_DecRef(ctypes.c_void_p(previous))

    def set_cap(self, cap):
        self.table[_CAP] = max(0, int(cap))
        self.trim(self.table[_CAP])

    def trim(self, keep):
        self._trim(ctypes.addressof(self.table), keep)


def _check_cap(value):
    if type(value) is not int or value < 0:
        raise ValueError("config.update('funcjax_output_pool_bytes', n): n is the bytes of "
                         f"freed output buffers kept for reuse, an int >= 0 (0: none); got "
                         f"{value!r}")


@functools.cache
def _pool():
    if getattr(sys, "_is_gil_enabled", lambda: True)() is False:  # the table has no lock
        return None
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    api = (ctypes.c_void_p * (_API_GET_HANDLER + 1)).from_address(
        get(np._core._multiarray_umath._ARRAY_API, None))
    current = ctypes.PYFUNCTYPE(ctypes.py_object)(api[_API_GET_HANDLER])()
    name = ctypes.pythonapi.PyCapsule_GetName
    name.restype, name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    if name(current) != _NAME:  # not the table we know
        return None
    pool = _Pool(api)
    if np._core.multiarray.get_handler_name(pool.empty(MIN_BYTES, np.uint8)) != \
            "funcjax_output_pool":
        return None
    pool.trim(0)  # (the probe's block)
    return pool


def empty(shape, dtype):
    """An uninitialised output array: from the pool when it is ``MIN_BYTES`` or larger."""
    if np.dtype(dtype).itemsize * math.prod(shape) < MIN_BYTES or \
            not config.funcjax_output_pool_bytes:  # (math.prod: np.prod costs ~2 us a call)
        return np.empty(shape, dtype)
    pool = _pool()
    return np.empty(shape, dtype) if pool is None else pool.empty(shape, dtype)


def native_handler():
    """``(address of PyDataMem_SetHandler, address of the pool's handler capsule)`` for
    generated code that allocates outputs of ``MIN_BYTES`` and more itself, or None when
    there is no pool or it is turned off (a change of the setting drops generated entries)."""
    if not config.funcjax_output_pool_bytes:
        return None
    pool = _pool()
    return None if pool is None else (pool.set_handler, id(pool.capsule))


def held_bytes():
    """Bytes of freed output buffers the pool keeps now."""
    pool = _pool.cache_info().currsize and _pool()
    return int(pool.table[_HELD]) if pool else 0


def release():
    """Returns every kept block to the C library (``funcjax.clear_caches``)."""
    if _pool.cache_info().currsize and _pool():
        _pool().trim(0)


def _on_config(name, value):
    if name == "funcjax_output_pool_bytes":
        _check_cap(value)
        if _pool.cache_info().currsize and _pool():
            _pool().set_cap(value)


config.on_update(_on_config)
