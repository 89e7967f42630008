"""The RQ job of bench/operations_throughput.py's raw baseline: takes an id, does nothing.

It has the shape of `services.worker.jobs.run_operation` (one string argument, a short
string result) so the only difference the benchmark measures is the work of an operation.
"""

from __future__ import annotations


def noop(operation_id: str) -> str:
    return operation_id
