"""Quota checks of the use cases, each inside the change's own transaction.

The caller passes the server's default `Limits` (from settings); the project's overrides
are read here. `None` for the limits means "not enforced" (the worker, drift, and tests
of other things call the use cases that way).
"""

from __future__ import annotations

import uuid

from services.clients.postgres import Connection
from services.control import errors
from services.domain import errors as domain_errors
from services.domain import quantities
from services.domain import quotas as rules
from services.domain.records import Principal
from services.settings import Settings, SettingsError
from services.store import events, projects
from services.store import quotas as store
from services.store.keys import ROLES


def defaults_from(settings: Settings) -> rules.Limits:
    """The server's default limits (`DBAAS_QUOTA_*`); 0 reads as no limit."""
    amounts = {}
    for name in rules.AMOUNTS:
        raw = getattr(settings, f"quota_{name}")
        try:
            value = quantities.parse_quantity(raw)
        except quantities.InvalidQuantity as exc:
            raise SettingsError(f"DBAAS_QUOTA_{name.upper()}={raw!r}: {exc}") from exc
        amounts[name] = value or None
    return rules.Limits(
        databases=settings.quota_databases or None,
        waiting_operations=settings.quota_waiting_operations or None,
        **amounts,
    )


def limits_of(conn: Connection, project_id: str, defaults: rules.Limits) -> rules.Limits:
    return defaults.overridden(store.overrides(conn, project_id))


def check_growth(
    conn: Connection,
    project_id: str,
    *,
    defaults: rules.Limits,
    new: rules.Size,
    old: rules.Size | None = None,
    database_id: uuid.UUID | None = None,
) -> None:
    """403 quota-exceeded when the project with `new` in place of `old` (a new database
    when `old` is None) would pass a limit. Locks the project first (LOCK_ORDER step 1b),
    so concurrent checks of one project see each other's commits."""
    store.lock_project(conn, project_id)
    limits = limits_of(conn, project_id, defaults)
    others = rules.usage_of(store.live_sizes(conn, project_id, except_id=database_id))
    before = others if old is None else others.plus(old)
    found = rules.excess(limits, before, others.plus(new))
    if found is not None:
        raise errors.QuotaExceeded(
            found.describe(),
            quota=found.quota,
            limit=found.limit,
            used=found.used,
            requested=found.requested,
        )


def check_queue(
    conn: Connection,
    project_id: str,
    database_id: uuid.UUID,
    *,
    defaults: rules.Limits,
    adding: int,
) -> None:
    """403 quota-exceeded when `adding` more operations would queue more than the database's
    bound. Called under the database's row lock, which every operation insert holds."""
    limit = limits_of(conn, project_id, defaults).waiting_operations
    if limit is None:
        return
    queued = store.open_operations(conn, database_id)
    if queued + adding > limit:
        raise errors.QuotaExceeded(
            f"quota waiting_operations exceeded: database {database_id} has {queued} "
            f"operations queued of {limit}; wait for them to finish or cancel some",
            quota="waiting_operations",
            limit=limit,
            used=queued,
            requested=queued + adding,
        )


def report(conn: Connection, project_id: str, defaults: rules.Limits) -> dict[str, object]:
    """The project's limits and use, as `GET /v1/quota` answers."""
    limits = limits_of(conn, project_id, defaults)
    usage = rules.usage_of(store.live_sizes(conn, project_id))
    return {"project": project_id, "quotas": rules.report(limits, usage)}


ADMIN = ROLES[-1]


def require_platform_admin(principal: Principal, platform_project: str) -> None:
    """Another project's quotas are the platform team's: an admin key of the platform
    project (`DBAAS_PLATFORM_PROJECT`) manages them; a project's own admins only read theirs
    (`GET /v1/quota`), or a project could lift its own limits."""
    if principal.role != ADMIN or principal.project_id != platform_project:
        raise errors.Forbidden(
            "managing a project's quotas needs an admin key of the platform project "
            f"{platform_project!r} (DBAAS_PLATFORM_PROJECT)"
        )


def report_for_platform(
    conn: Connection,
    principal: Principal,
    project_id: str,
    *,
    defaults: rules.Limits,
    platform_project: str,
) -> dict[str, object]:
    require_platform_admin(principal, platform_project)
    return report(conn, _existing_project(project_id), defaults)


def override(
    conn: Connection,
    principal: Principal,
    project_id: str,
    body: object,
    *,
    defaults: rules.Limits,
    platform_project: str,
) -> dict[str, object]:
    """Set (or, with null, put back to the default) some of a project's limits, audited
    in the project's events; the new limits and use. Lowering a limit below the use
    refuses new growth only: nothing that exists is touched."""
    require_platform_admin(principal, platform_project)
    _existing_project(project_id)
    values = rules.parse_overrides(body)
    with conn.transaction():
        projects.ensure(conn, project_id)
        store.lock_project(conn, project_id)
        store.set_overrides(conn, project_id, values)
        events.record(
            conn,
            project_id=project_id,
            actor=principal.actor,
            kind="quota.changed",
            message=f"quotas of {project_id} changed: "
            + ", ".join(f"{name}={'default' if v is None else v}" for name, v in values.items()),
            details={"set": values},
        )
    return report(conn, project_id, defaults)


def _existing_project(project_id: str) -> str:
    """The project id, or 422 when it cannot be one (so no namespace could exist for it)."""
    try:
        return projects.checked(project_id)
    except projects.InvalidProjectId as exc:
        raise domain_errors.ValidationFailed(
            [domain_errors.FieldError("project", domain_errors.INVALID_NAME, str(exc))]
        ) from exc
