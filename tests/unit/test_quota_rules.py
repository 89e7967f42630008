"""A project's own limits as the platform team's API gives them: parsed, checked, canonical."""

from __future__ import annotations

import pytest

from services.domain import errors
from services.domain import quotas as rules


def test_overrides_are_counts_or_quantities_stored_canonically_and_null_means_default() -> None:
    assert rules.parse_overrides(
        {"databases": 0, "storage": "2048Gi", "cpu": "1500m", "memory": None}
    ) == {"databases": 0, "storage": "2Ti", "cpu": "1500m", "memory": None}


@pytest.mark.parametrize(
    ("body", "codes"),
    [
        ({}, {"": "required"}),
        ([], {"": "invalid_type"}),
        ({"databases": True}, {"databases": "invalid_type"}),
        ({"databases": 1_000_001}, {"databases": "out_of_range"}),
        ({"waiting_operations": -1}, {"waiting_operations": "out_of_range"}),
        ({"cpu": "-1"}, {"cpu": "invalid_quantity"}),
        ({"memory": 5, "disks": 1}, {"memory": "invalid_type", "disks": "unknown_field"}),
    ],
)
def test_bad_overrides_list_every_problem(body: object, codes: dict[str, str]) -> None:
    with pytest.raises(errors.ValidationFailed) as refused:
        rules.parse_overrides(body)
    assert refused.value.codes() == codes
