"""Projects: the tenancy unit; each maps to its own Kubernetes namespace."""

from __future__ import annotations

import re

from services.clients.postgres import Connection

PROJECT_ID = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")


class InvalidProjectId(ValueError):
    pass


def namespace_for(project_id: str) -> str:
    return f"dbaas-{project_id}"


def checked(project_id: str) -> str:
    """The project id, or InvalidProjectId when it cannot name a project (nor a namespace)."""
    if not PROJECT_ID.fullmatch(project_id):
        raise InvalidProjectId(
            f"project id {project_id!r} must be 1-40 lowercase letters, digits or '-', "
            "starting and ending with a letter or digit"
        )
    return project_id


def ensure(conn: Connection, project_id: str) -> str:
    """Create the project if missing; return its namespace."""
    checked(project_id)
    namespace = namespace_for(project_id)
    conn.execute(
        "INSERT INTO projects (id, namespace) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING",
        (project_id, namespace),
    )
    return namespace


def namespaces(conn: Connection) -> dict[str, str]:
    """Every project's namespace, by project id."""
    rows = conn.execute("SELECT id, namespace FROM projects ORDER BY id").fetchall()
    return {row["id"]: row["namespace"] for row in rows}
