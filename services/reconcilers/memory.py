"""Give the memory a large pass freed back to the operating system.

Why: a drift pass or a full re-list handles thousands of objects at once and frees them
when it ends, but glibc's malloc keeps the freed chunks mapped for reuse, so the process
stays as large as its largest pass (how much: bench/README.md, "Figures behind the code").
`malloc_trim(0)` hands the free pages back; it takes a few milliseconds, so call it after a
pass, never per object. Without glibc (musl, macOS) `trim` does nothing. It never frees
anything that is still in use.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        function: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):  # not glibc
        return None
    return function


def trim() -> bool:
    """Return free heap pages to the OS; False where the C library cannot."""
    function = _malloc_trim()
    if function is None:
        return False
    function(0)
    return True
