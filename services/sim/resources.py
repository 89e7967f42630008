"""The resource types the simulated API server serves, and how discovery describes them.

Core kinds (Namespace, Secret, Service, Lease) are described here; the KubeDB kinds come
from the loaded CRDs when there are any (`SchemaRegistry.resources()`), else from the facts
in KUBEDB-API.md so the simulator still serves them without validation. Only the storage
versions are served (kubedb.com/v1, ops.kubedb.com/v1alpha1, catalog.kubedb.com/v1alpha1):
there is no conversion webhook to translate v1alpha2.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Protocol

VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]
SERVED_VERSIONS = {
    "kubedb.com": "v1",
    "ops.kubedb.com": "v1alpha1",
    "catalog.kubedb.com": "v1alpha1",
    # KubeStash and KubeDB's archivers (served when their CRDs are loaded: services/sim/kubestash).
    "storage.kubestash.com": "v1alpha1",
    "core.kubestash.com": "v1alpha1",
    "addons.kubestash.com": "v1alpha1",
    "archiver.kubedb.com": "v1alpha1",
}

Column = tuple[str, str, str]
"""(name, type, JSON path or a special marker such as `@age`)."""

_AGE: Column = ("Age", "date", "@age")


@dataclasses.dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    has_status: bool = False
    custom: bool = True
    columns: tuple[Column, ...] = ()
    fields: tuple[str, ...] = ("metadata.name", "metadata.namespace")

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """Stable identity: `postgreses.kubedb.com`, `secrets`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


class CrdDescription(Protocol):
    """What `services.sim.schemas.CrdResource` offers (kept structural to avoid a cycle)."""

    @property
    def group(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def plural(self) -> str: ...
    @property
    def singular(self) -> str: ...
    @property
    def short_names(self) -> tuple[str, ...]: ...
    @property
    def categories(self) -> tuple[str, ...]: ...
    @property
    def namespaced(self) -> bool: ...
    @property
    def has_status(self) -> bool: ...
    @property
    def columns(self) -> tuple[Column, ...]: ...


CORE = (
    ResourceType(
        "",
        "v1",
        "namespaces",
        "namespace",
        "Namespace",
        False,
        ("ns",),
        (),
        True,
        False,
        (("Status", "string", ".status.phase"), _AGE),
    ),
    ResourceType(
        "",
        "v1",
        "secrets",
        "secret",
        "Secret",
        True,
        (),
        (),
        False,
        False,
        (("Type", "string", ".type"), ("Data", "string", "@data"), _AGE),
        ("metadata.name", "metadata.namespace", "type"),
    ),
    ResourceType(
        "",
        "v1",
        "services",
        "service",
        "Service",
        True,
        ("svc",),
        ("all",),
        True,
        False,
        (
            ("Type", "string", ".spec.type"),
            ("Cluster-IP", "string", ".spec.clusterIP"),
            ("Port(s)", "string", "@ports"),
            _AGE,
        ),
    ),
    ResourceType(
        "coordination.k8s.io",
        "v1",
        "leases",
        "lease",
        "Lease",
        True,
        (),
        (),
        False,
        False,
        (("Holder", "string", ".spec.holderIdentity"), _AGE),
    ),
)

_ENGINES = (
    # kind, plural, singular, short name, ops short name, catalog short name
    ("Postgres", "postgreses", "postgres", "pg", "pgops", "pgversion"),
    ("MySQL", "mysqls", "mysql", "my", "myops", "myversion"),
    ("MongoDB", "mongodbs", "mongodb", "mg", "mgops", "mgversion"),
    ("Redis", "redises", "redis", "rd", "rdops", "rdversion"),
)


def _kubedb_facts() -> list[ResourceType]:
    types: list[ResourceType] = []
    for kind, plural, singular, short, ops_short, catalog_short in _ENGINES:
        types.append(
            ResourceType(
                "kubedb.com",
                "v1",
                plural,
                singular,
                kind,
                True,
                (short,),
                ("datastore", "kubedb", "appscode", "all"),
                True,
                True,
                (
                    ("Version", "string", ".spec.version"),
                    ("Status", "string", ".status.phase"),
                    _AGE,
                ),
            )
        )
        ops_kind = f"{kind}OpsRequest"
        types.append(
            ResourceType(
                "ops.kubedb.com",
                "v1alpha1",
                f"{singular}opsrequests",
                ops_kind.lower(),
                ops_kind,
                True,
                (ops_short,),
                ("ops", "kubedb", "appscode"),
                True,
                True,
                (("Type", "string", ".spec.type"), ("Status", "string", ".status.phase"), _AGE),
            )
        )
        catalog_columns: list[Column] = [("Version", "string", ".spec.version")]
        if kind != "Redis":
            catalog_columns.append(("Distribution", "string", ".spec.distribution"))
        catalog_columns += [
            ("DB_IMAGE", "string", ".spec.db.image"),
            ("Deprecated", "boolean", ".spec.deprecated"),
            _AGE,
        ]
        types.append(
            ResourceType(
                "catalog.kubedb.com",
                "v1alpha1",
                f"{singular}versions",
                f"{singular}version",
                f"{kind}Version",
                False,
                (catalog_short,),
                ("catalog", "kubedb", "appscode"),
                False,
                True,
                tuple(catalog_columns),
            )
        )
    return types


def kubedb_types(crds: Iterable[CrdDescription]) -> list[ResourceType]:
    """The KubeDB kinds: facts, overridden by what the loaded CRDs declare."""
    facts = {(rt.group, rt.kind): rt for rt in _kubedb_facts()}
    for crd in crds:
        if SERVED_VERSIONS.get(crd.group) != crd.version:
            continue
        fact = facts.get((crd.group, crd.kind))
        columns = _printer_columns(crd.columns) or (fact.columns if fact else (_AGE,))
        facts[(crd.group, crd.kind)] = ResourceType(
            crd.group,
            crd.version,
            crd.plural,
            crd.singular,
            crd.kind,
            crd.namespaced,
            tuple(crd.short_names or ()),
            tuple(crd.categories or ()),
            crd.has_status,
            True,
            columns,
        )
    return list(facts.values())


def _printer_columns(columns: Iterable[Column]) -> tuple[Column, ...]:
    """A CRD's printer columns; its creationTimestamp column prints as an age, as kubectl's."""
    return tuple(
        (name, kind, "@age" if path == ".metadata.creationTimestamp" else path)
        for name, kind, path in columns
    )


class ResourceTable:
    """Lookup of served types by (group, version, plural) and by kind."""

    def __init__(self, types: Iterable[ResourceType]) -> None:
        self.types = list(types)
        self._by_path = {(rt.group, rt.version, rt.plural): rt for rt in self.types}
        self._by_key = {rt.key: rt for rt in self.types}
        self._by_kind = {(rt.api_version, rt.kind): rt for rt in self.types}

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def by_key(self, key: str) -> ResourceType:
        return self._by_key[key]

    def by_plural(self, plural: str) -> ResourceType | None:
        """Resolve a bare plural (`postgreses`) or a qualified key (`postgreses.kubedb.com`)."""
        if plural in self._by_key:
            return self._by_key[plural]
        matches = [rt for rt in self.types if rt.plural == plural]
        return matches[0] if len(matches) == 1 else None

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        return self._by_kind.get((api_version, kind))

    def groups(self) -> dict[str, list[ResourceType]]:
        grouped: dict[str, list[ResourceType]] = {}
        for rt in self.types:
            grouped.setdefault(rt.group, []).append(rt)
        return grouped


def build_table(crds: Iterable[CrdDescription]) -> ResourceTable:
    return ResourceTable([*CORE, *kubedb_types(crds)])
