from __future__ import annotations

import re
import uuid

import pytest

from services.domain import errors, naming

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
OP_ID = uuid.UUID("0123456789abcdef0123456789abcdef")


@pytest.mark.parametrize(
    "name", ["a", "orders", "orders-db", "pg1", "a-b-c", "x" * naming.MAX_NAME_LENGTH, "a0-9z"]
)
def test_valid_names_have_no_problems(name: str) -> None:
    assert naming.check_name(name) == []
    assert naming.is_valid_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Orders",
        "ORDERS",
        "1orders",
        "-orders",
        "orders-",
        "orders_db",
        "orders.db",
        "orders db",
        " orders",
        "orders\n",
        "ordérs",
        "9",
    ],
)
def test_names_breaking_the_label_rules_are_invalid_name(name: str) -> None:
    problems = naming.check_name(name)
    assert [p.code for p in problems] == [errors.INVALID_NAME]
    assert problems[0].field == "name"


def test_a_name_one_character_too_long_is_name_too_long() -> None:
    problems = naming.check_name("x" * (naming.MAX_NAME_LENGTH + 1))
    assert [p.code for p in problems] == [errors.NAME_TOO_LONG]
    assert str(naming.MAX_NAME_LENGTH) in problems[0].message


def test_a_long_name_with_bad_characters_reports_both_problems() -> None:
    problems = naming.check_name("X" * 50, field="body.name")
    assert {p.code for p in problems} == {errors.NAME_TOO_LONG, errors.INVALID_NAME}
    assert {p.field for p in problems} == {"body.name"}


def test_every_name_derived_from_the_longest_name_fits_63_characters() -> None:
    name = "a" * naming.MAX_NAME_LENGTH
    derived = naming.derived_names(name)
    assert len(derived) > 40
    too_long = [d for d in derived if len(d) > 63]
    assert too_long == []
    assert all(DNS_LABEL.fullmatch(d) for d in derived)


def test_the_limit_is_tight_one_more_character_overflows_an_ops_request_name() -> None:
    derived = naming.derived_names("a" * (naming.MAX_NAME_LENGTH + 1))
    assert max(len(d) for d in derived) == 64


def test_ops_request_name_is_deterministic_and_readable() -> None:
    name = naming.ops_request_name("orders", OP_ID, "scale")
    assert name == "orders-scale-0123456789ab"
    assert naming.ops_request_name("orders", OP_ID, "scale") == name
    assert naming.ops_request_name("orders", uuid.uuid4(), "scale") != name


@pytest.mark.parametrize("op_type", ["scale", "resize", "expand", "upgrade", "restart"])
def test_ops_request_names_of_the_longest_database_name_are_full_length_labels(
    op_type: str,
) -> None:
    database = "z" * naming.MAX_NAME_LENGTH
    name = naming.ops_request_name(database, OP_ID, op_type)
    assert name.startswith(database + "-")
    assert len(name) <= 63
    assert DNS_LABEL.fullmatch(name)


def test_ops_request_name_shortens_an_overlong_database_name_and_stays_valid() -> None:
    database = "a" * 40 + "-" + "b" * 40
    name = naming.ops_request_name(database, OP_ID, "restart")
    assert len(name) <= 63
    assert DNS_LABEL.fullmatch(name)
    assert name.endswith("-restart-0123456789ab")
    assert "--" not in name


@pytest.mark.parametrize("op_type", ["create", "delete", "set-policy", "Scale", ""])
def test_operations_without_an_ops_request_have_no_ops_request_name(op_type: str) -> None:
    with pytest.raises(ValueError, match="no OpsRequest"):
        naming.ops_request_name("orders", OP_ID, op_type)


def test_project_namespace_is_prefixed() -> None:
    assert naming.project_namespace("default") == "dbaas-default"
    assert naming.project_namespace("team-a1") == "dbaas-team-a1"
    longest = "p" * 40
    assert naming.is_dns_label(naming.project_namespace(longest))


@pytest.mark.parametrize("project", ["", "Team", "-a", "a-", "a_b", "p" * 41])
def test_project_namespace_refuses_ids_the_projects_table_refuses(project: str) -> None:
    with pytest.raises(ValueError):
        naming.project_namespace(project)


def test_is_dns_label() -> None:
    assert naming.is_dns_label("0abc")
    assert naming.is_dns_label("a" * 63)
    assert not naming.is_dns_label("a" * 64)
    assert not naming.is_dns_label("a.b")
    assert not naming.is_dns_label("")
