"""Low-level Numba intrinsics for the GIL-free audio path: raw pointers, acquire/release counters, cycle counter.

These let a Numba ``@cfunc`` (the PortAudio callback) and ``nogil`` worker kernels share plain numpy arrays
safely without locks: a single-producer/single-consumer ring publishes its counters with release stores and
reads the other side's counter with acquire loads, so data written before a publish is visible after it.
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def as_voidptr(typingctx, address):
    """Turn an integer address (from ``array.ctypes.data``) into a ``void*`` for ``numba.carray``."""
    if not isinstance(address, types.Integer):
        return None
    sig = types.voidptr(address)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return sig, codegen


def _element_pointer(context, builder, arrty, arr, index):
    ary = context.make_array(arrty)(context, builder, arr)
    return cgutils.get_item_pointer(context, builder, arrty, ary, [index], wraparound=False)


@intrinsic
def load_acquire(typingctx, arr, index):
    """``arr[index]`` read with acquire ordering (``arr``: 1-D int64 array)."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64 and arr.ndim == 1):
        return None
    sig = types.int64(arr, index)

    def codegen(context, builder, signature, args):
        ptr = _element_pointer(context, builder, signature.args[0], args[0], args[1])
        return builder.load_atomic(ptr, ordering="acquire", align=8)

    return sig, codegen


@intrinsic
def store_release(typingctx, arr, index, value):
    """``arr[index] = value`` written with release ordering (``arr``: 1-D int64 array)."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64 and arr.ndim == 1):
        return None
    sig = types.void(arr, index, value)

    def codegen(context, builder, signature, args):
        ptr = _element_pointer(context, builder, signature.args[0], args[0], args[1])
        val = context.cast(builder, args[2], signature.args[2], types.int64)
        builder.store_atomic(val, ptr, ordering="release", align=8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def cycle_counter(typingctx):
    """The CPU's time-stamp counter (``llvm.readcyclecounter``): cheap timing inside the callback."""
    sig = types.int64()

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.IntType(64), [])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.readcyclecounter")
        return builder.call(fn, [])

    return sig, codegen
