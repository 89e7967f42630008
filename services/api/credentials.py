"""GET /v1/databases/{id}/credentials: read the `<name>-auth` Secret KubeDB created.

Every disclosure is audited (event `credentials.read`) BEFORE the password leaves the API:
if the audit cannot be written, the caller gets a 503, not the password. The password is
never logged, never put into a problem, never stored by dbaas. The Kubernetes client is
imported on the first read, not with the app (see `services.api.cluster_access`).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from services.api import problems, reads
from services.api.backends import Backends
from services.clients.postgres import Connection
from services.control import audits
from services.domain import engines, naming
from services.domain.records import DatabaseRecord, Principal

log = logging.getLogger(__name__)


def secret_name(database_name: str) -> str:
    """KubeDB's default auth Secret (`spec.authSecret` is never set by dbaas)."""
    return f"{database_name}-auth"


def load(
    conn: Connection, principal: Principal, database_id: uuid.UUID
) -> tuple[DatabaseRecord, Principal]:
    return reads.live_database(conn, principal, database_id), principal


def disclose(backends: Backends, principal: Principal, record: DatabaseRecord) -> dict[str, Any]:
    namespace = naming.project_namespace(record.project_id)
    name = secret_name(record.name)
    cluster = backends.cluster.get()
    from services.clients.kube import KubeError  # loaded with the cluster client just above

    try:
        data = cluster.read_secret(namespace, name)
    except KubeError as exc:
        if exc.not_found:
            raise problems.Problem(
                "credentials-not-ready",
                f"the credentials of {record.name!r} do not exist yet; retry when it is ready",
            ) from None
        log.warning("database %s: cannot read Secret %s/%s: %s", record.id, namespace, name, exc)
        raise problems.Problem("cluster-unavailable", "cannot read the credentials") from None
    if "password" not in data:
        raise problems.Problem(
            "credentials-not-ready", f"the Secret of {record.name!r} holds no password yet"
        )
    with backends.connection() as conn:
        audits.credentials_read(conn, principal, record, secret=f"{namespace}/{name}")
    spec = engines.spec_for(record.engine)
    return {
        "database_id": str(record.id),
        "username": data.get("username", spec.default_user),
        "password": data["password"],
        "endpoint": record.endpoint,
        "port": spec.port,
    }
