"""The lifecycle state and observed generation, derived purely from one snapshot of facts."""

from __future__ import annotations

import pytest

from services.domain import lifecycle
from services.domain.lifecycle import Facts, State


def facts(**overrides: object) -> Facts:
    values: dict[str, object] = {
        "current": "ready",
        "open_operations": (),
        "last_create": "succeeded",
        "cr_present": True,
        "phase": "Ready",
        "in_sync": True,
    }
    values.update(overrides)
    return Facts(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, State.READY),
        ({"in_sync": False}, State.DEGRADED),
        ({"phase": "Critical"}, State.DEGRADED),
        ({"phase": "NotReady"}, State.DEGRADED),
        ({"phase": "Halted"}, State.DEGRADED),
        ({"open_operations": ("scale",)}, State.UPDATING),
        ({"open_operations": ("restart", "upgrade")}, State.UPDATING),
        ({"open_operations": ("create",), "last_create": "waiting", "phase": None}, State.CREATING),
        ({"open_operations": ("scale", "delete")}, State.DELETING),
        ({"open_operations": ("create", "delete")}, State.DELETING),
        ({"last_create": "failed", "cr_present": False, "phase": None}, State.FAILED),
        ({"cr_present": False, "phase": None}, State.DEGRADED),
        ({"cr_present": False, "phase": None, "last_create": None}, State.CREATING),
        ({"phase": "Provisioning", "last_create": None}, State.CREATING),
        ({"phase": "Provisioning"}, State.DEGRADED),
        ({"current": "deleted", "open_operations": ("create",)}, State.DELETED),
    ],
)
def test_the_state_follows_from_operations_first_then_from_the_cluster(
    overrides: dict[str, object], expected: State
) -> None:
    assert lifecycle.derive_state(facts(**overrides)) is expected


def test_a_newer_create_lifts_a_failed_create() -> None:
    assert lifecycle.derive_state(facts(last_create="waiting", open_operations=("create",))) is (
        State.CREATING
    )


def test_observed_generation_moves_to_generation_only_when_nothing_is_left_to_do() -> None:
    settled = {"open_operations": (), "in_sync": True, "cr_caught_up": True}
    assert lifecycle.observed_generation(generation=4, prior=3, **settled) == 4  # type: ignore[arg-type]
    for blocker in (
        {"open_operations": ("scale",)},
        {"in_sync": False},
        {"cr_caught_up": False},
    ):
        args = settled | blocker
        assert lifecycle.observed_generation(generation=4, prior=3, **args) == 3  # type: ignore[arg-type]
    assert (
        lifecycle.observed_generation(generation=4, prior=None, **(settled | {"in_sync": False}))
        is None
    )  # type: ignore[arg-type]


def test_observed_generation_never_moves_backwards() -> None:
    assert (
        lifecycle.observed_generation(
            generation=2, prior=5, open_operations=(), in_sync=True, cr_caught_up=True
        )
        == 5
    )


def test_spec_differences_compare_quantities_by_value_and_ignore_unset_resources() -> None:
    desired = {
        "version": "16.13",
        "replicas": 3,
        "storage": "1Gi",
        "cpu": None,
        "memory": "1Gi",
        "deletion_policy": "Delete",
    }
    observed = desired | {"storage": "1024Mi", "cpu": "2", "memory": "1024Mi"}
    assert lifecycle.spec_differences(desired, observed) == {}
    assert lifecycle.spec_differences(desired, observed | {"replicas": 2}) == {"replicas": (3, 2)}
    assert lifecycle.spec_differences(desired, observed | {"memory": "2Gi"}) == {
        "memory": ("1Gi", "2Gi")
    }


def test_a_missing_observed_spec_differs_in_every_field() -> None:
    differences = lifecycle.spec_differences({"replicas": 1}, None)
    assert set(differences) == set(lifecycle.COMPARED_FIELDS)
