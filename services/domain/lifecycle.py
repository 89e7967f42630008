"""The lifecycle state of a database, derived from desired vs observed state and its operations.

Why: the `state` a client reads (creating, ready, updating, degraded, deleting, deleted,
failed) must be a pure function of facts that status-sync holds in one snapshot, so that a
duplicate event, a re-list or a second reconciler replica always writes the same value.
The same goes for `status.observed_generation`, which tells a client that the cluster now
reflects a given generation of its spec (the Kubernetes way: wait for
`observed_generation >= generation`).

This module never does I/O and never writes anything: it answers questions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

from services.domain import quantities
from services.domain.records import OperationState


class State(str, Enum):
    CREATING = "creating"
    READY = "ready"
    UPDATING = "updating"
    DEGRADED = "degraded"
    DELETING = "deleting"
    DELETED = "deleted"
    FAILED = "failed"


# Phases in which KubeDB is still building a database it has never reported Ready.
PROVISIONING_PHASES = frozenset({"Provisioning", "DataRestoring"})
COMPARED_FIELDS = ("version", "replicas", "storage", "cpu", "memory", "deletion_policy")
QUANTITY_FIELDS = frozenset({"storage", "cpu", "memory"})


@dataclasses.dataclass(frozen=True)
class Facts:
    """What status-sync knows about one database at one instant."""

    current: str
    """The `state` column now."""
    open_operations: tuple[str, ...]
    """Types of the database's pending, running and waiting operations, oldest first."""
    last_create: str | None
    """State of the newest `create` or `restore` operation (the one that made the database),
    None when there is none."""
    cr_present: bool
    """The database CR exists in the cluster (and is not being deleted)."""
    phase: str | None
    """KubeDB's `status.phase`, None when the CR is missing or has no status yet."""
    in_sync: bool
    """The observed spec equals the desired spec (`spec_differences` is empty)."""


def derive_state(facts: Facts) -> State:
    """The lifecycle state the facts imply.

    Open operations decide first (delete > create > anything else), then a failed create
    sticks until a newer create, then the cluster: Ready and in sync is `ready`; a database
    that was created but is missing, unhealthy or out of sync is `degraded`.
    """
    if facts.current == State.DELETED.value:
        return State.DELETED  # terminal: never resurrect a deleted row
    if "delete" in facts.open_operations:
        return State.DELETING
    if "create" in facts.open_operations or "restore" in facts.open_operations:
        return State.CREATING
    if facts.open_operations:
        return State.UPDATING
    if facts.last_create == OperationState.FAILED:
        return State.FAILED
    created = facts.last_create == OperationState.SUCCEEDED
    if not facts.cr_present:
        return State.DEGRADED if created else State.CREATING
    if facts.phase == "Ready":
        return State.READY if facts.in_sync else State.DEGRADED
    if facts.phase in PROVISIONING_PHASES and not created:
        return State.CREATING
    return State.DEGRADED


def observed_generation(
    *,
    generation: int,
    prior: int | None,
    open_operations: Sequence[str],
    in_sync: bool,
    cr_caught_up: bool,
) -> int | None:
    """The database generation the cluster reflects.

    It becomes `generation` once nothing is left to do: no open operation, the observed
    spec equals the desired spec, and KubeDB has processed the CR's latest spec
    (`status.observedGeneration >= metadata.generation`). Otherwise it keeps its prior
    value, so it never moves backwards and never claims a change still in flight.
    """
    if not open_operations and in_sync and cr_caught_up:
        return generation if prior is None else max(prior, generation)
    return prior


def spec_differences(
    desired: Mapping[str, Any], observed: Mapping[str, Any] | None
) -> dict[str, tuple[Any, Any]]:
    """Fields whose observed value differs from the desired one: {field: (desired, observed)}.

    Quantities compare by value ("1Gi" == "1024Mi"). A desired cpu or memory of None leaves
    the setting to KubeDB's defaults, so any observed value matches it. A missing observed
    spec differs in every field.
    """
    if observed is None:
        return {field: (desired.get(field), None) for field in COMPARED_FIELDS}
    differences: dict[str, tuple[Any, Any]] = {}
    for field in COMPARED_FIELDS:
        want, have = desired.get(field), observed.get(field)
        if field in ("cpu", "memory") and want is None:
            continue
        if not _same(field, want, have):
            differences[field] = (want, have)
    return differences


def _same(field: str, want: Any, have: Any) -> bool:
    if field in QUANTITY_FIELDS and isinstance(want, str) and isinstance(have, str):
        try:
            return quantities.same_quantity(want, have)
        except quantities.InvalidQuantity:
            return want == have
    return bool(want == have)
