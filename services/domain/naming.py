"""Names: database name rules, deterministic OpsRequest names, project namespaces.

Why: a database name becomes a Kubernetes object name and, through KubeDB, the stem of many
more (Secrets, Services, PetSets, pods, PVCs, label values). Every one of them must be a
valid DNS-1123 label of at most 63 characters, or KubeDB truncates it (`NameWithSuffix`) and
our lookups break. So we cap the database name such that nothing derived from it is ever
truncated. Pure string logic; no I/O.

Derivation of `MAX_NAME_LENGTH` (replicas <= 9 so an ordinal is one digit; Redis has 3
shards and <= 5 nodes per shard):

| derived name                                          | length       |
|-------------------------------------------------------|--------------|
| Service / PetSet / AppBinding / PDB `<name>`           | n            |
| pod `<name>-<ordinal>`                                 | n + 2        |
| Secret `<name>-auth`, Service `<name>-pods`            | n + 5        |
| Service `<name>-stats`                                 | n + 6        |
| Service `<name>-standby`                               | n + 8        |
| PVC `data-<name>-<ordinal>`                            | n + 7        |
| MongoDB PVC `datadir-<name>-<ordinal>`                 | n + 10       |
| label `controller-revision-hash` `<petset>-<hash<=10>` | n + 11       |
| Redis PetSet `<name>-shard<N>`                         | n + 7        |
| Redis pod `<name>-shard<N>-<ordinal>`                  | n + 9        |
| Redis PVC `data-<name>-shard<N>-<ordinal>`             | n + 14       |
| Redis `controller-revision-hash` `<name>-shard<N>-<hash>` | n + 18    |
| our OpsRequest `<name>-<op type<=7>-<12 hex>`          | n + 21       |

The longest is our own OpsRequest name: n + 21 <= 63 gives n <= 42. (KubeDB's own
Redis revision label would allow 45; we keep OpsRequest names untruncated so
`kubectl get <kind>opsrequests` shows which database each one is for.)
"""

from __future__ import annotations

import re
import uuid

from services.domain import errors

MAX_K8S_NAME = 63  # DNS-1123 label
MAX_NAME_LENGTH = 42
OPS_ID_HEX = 12

# KubeDB names are hostnames: lowercase alphanumerics and '-', starting with a letter and
# ending with an alphanumeric.
_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_PROJECT_ID = re.compile(r"[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?")  # as the projects table

NAMESPACE_PREFIX = "dbaas-"

# Operation types that become OpsRequests, and the word that marks them in the object name.
OPS_NAME_WORDS: dict[str, str] = {
    "scale": "scale",
    "resize": "resize",
    "expand": "expand",
    "upgrade": "upgrade",
    "restart": "restart",
}


def check_name(name: str, *, field: str = "name") -> list[errors.FieldError]:
    """The problems of a database name (empty list when valid)."""
    problems: list[errors.FieldError] = []
    if len(name) > MAX_NAME_LENGTH:
        problems.append(
            errors.FieldError(
                field,
                errors.NAME_TOO_LONG,
                f"must be at most {MAX_NAME_LENGTH} characters (got {len(name)}), so that "
                "every name KubeDB derives from it fits in 63",
            )
        )
    if not _NAME.fullmatch(name):
        problems.append(
            errors.FieldError(
                field,
                errors.INVALID_NAME,
                "must consist of lowercase letters, digits and '-', start with a letter "
                "and end with a letter or digit",
            )
        )
    return problems


def is_valid_name(name: str) -> bool:
    return not check_name(name)


def is_dns_label(text: str) -> bool:
    """A valid DNS-1123 label (what Kubernetes requires of most object names)."""
    return len(text) <= MAX_K8S_NAME and _DNS_LABEL.fullmatch(text) is not None


def ops_request_name(database_name: str, operation_id: uuid.UUID, op_type: str) -> str:
    """`<name>-<type>-<12 hex of the op id>`: the same operation always gets the same name.

    A retried apply therefore meets AlreadyExists instead of creating a second OpsRequest.
    Always a DNS-1123 label of at most 63 characters, even for a name longer than allowed
    (the name part is then shortened).
    """
    word = OPS_NAME_WORDS.get(op_type)
    if word is None:
        raise ValueError(f"operation type {op_type!r} has no OpsRequest")
    suffix = f"-{word}-{operation_id.hex[:OPS_ID_HEX]}"
    stem = database_name[: MAX_K8S_NAME - len(suffix)].rstrip("-")
    return f"{stem}{suffix}"


def project_namespace(project_id: str) -> str:
    """The Kubernetes namespace holding a project's databases: `dbaas-<project>`."""
    if not _PROJECT_ID.fullmatch(project_id):
        raise ValueError(f"{project_id!r} is not a valid project id")
    return f"{NAMESPACE_PREFIX}{project_id}"


def derived_names(name: str) -> list[str]:
    """Every object name and label value KubeDB (and we) derive from a database name.

    Used by tests to prove `MAX_NAME_LENGTH`, and handy when looking objects up.
    """
    revision_hash = "x" * 10
    names = [
        name,
        f"{name}-auth",
        f"{name}-standby",
        f"{name}-pods",
        f"{name}-stats",
        f"{name}-key",
    ]
    for ordinal in range(9):
        names += [f"{name}-{ordinal}", f"data-{name}-{ordinal}", f"datadir-{name}-{ordinal}"]
    names.append(f"{name}-{revision_hash}")
    for shard in range(3):
        petset = f"{name}-shard{shard}"
        names += [petset, f"{petset}-{revision_hash}"]
        for ordinal in range(5):
            names += [f"{petset}-{ordinal}", f"data-{petset}-{ordinal}"]
    # Our OpsRequest names, as they would be without ops_request_name's safety shortening.
    names += [f"{name}-{word}-{'0' * OPS_ID_HEX}" for word in OPS_NAME_WORDS.values()]
    return names
