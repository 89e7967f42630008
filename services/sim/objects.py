"""Object metadata rules of a real API server, as pure functions.

Name validation (RFC 1123 subdomain / label, RFC 1035 label), generateName, timestamps,
the server-owned metadata fields and the defaults the core kinds get on create (Secret
`type` and `stringData`, Service `clusterIP`/`type`, Namespace `status.phase`). Nothing
here touches the store.
"""

from __future__ import annotations

import base64
import datetime
import random
import re
import string
from typing import Any

from services.sim import errors
from services.sim.resources import ResourceType

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

SERVER_METADATA = (
    "uid",
    "creationTimestamp",
    "resourceVersion",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
)


def timestamp(now: datetime.datetime) -> str:
    return now.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: str) -> datetime.datetime:
    return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)


def generate_name(prefix: str) -> str:
    return prefix + "".join(random.choices(_GENERATE_ALPHABET, k=5))


def name_causes(rt: ResourceType, name: str) -> list[dict[str, str]]:
    """Field causes for an invalid metadata.name, worded like apimachinery's validation."""
    if rt.plural == "services":
        pattern, limit, what = _DNS1035, 63, "a DNS-1035 label"
        detail = (
            "must consist of lower case alphanumeric characters or '-', start with an "
            "alphabetic character, and end with an alphanumeric character"
        )
        regex = "[a-z]([-a-z0-9]*[a-z0-9])?"
    elif rt.plural == "namespaces":
        pattern, limit, what = _LABEL, 63, "a lowercase RFC 1123 label"
        detail = (
            "must consist of lower case alphanumeric characters or '-', and must start and "
            "end with an alphanumeric character"
        )
        regex = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
    else:
        pattern, limit, what = _SUBDOMAIN, 253, "a lowercase RFC 1123 subdomain"
        detail = (
            "must consist of lower case alphanumeric characters, '-' or '.', and must start "
            "and end with an alphanumeric character"
        )
        regex = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
    causes = []
    if len(name) > limit:
        causes.append(
            {
                "reason": "FieldValueInvalid",
                "message": f'Invalid value: "{name}": must be no more than {limit} characters',
                "field": "metadata.name",
            }
        )
    if not pattern.match(name):
        causes.append(
            {
                "reason": "FieldValueInvalid",
                "message": f'Invalid value: "{name}": {what} {detail} '
                f"(regex used for validation is '{regex}')",
                "field": "metadata.name",
            }
        )
    return causes


def check_identity(rt: ResourceType, body: Any, *, namespace: str | None) -> dict[str, Any]:
    """The body must be an object of this kind; its namespace must match the URL's."""
    if not isinstance(body, dict):
        raise errors.bad_request("the body of the request must be a JSON object")
    api_version, kind = body.get("apiVersion"), body.get("kind")
    if rt.custom and (not api_version or not kind):
        raise errors.bad_request(
            f"Object 'Kind' is missing in '{str(body)[:200]}'"
            if not kind
            else "Object 'apiVersion' is missing"
        )
    if (api_version and api_version != rt.api_version) or (kind and kind != rt.kind):
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API "
            f"version ({rt.api_version}) or the kind ({kind}) is not {rt.kind}"
        )
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise errors.bad_request("metadata must be an object")
    body_namespace = (metadata or {}).get("namespace")
    if rt.namespaced and body_namespace and namespace and body_namespace != namespace:
        raise errors.bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    return body


def apply_core_defaults(rt: ResourceType, obj: dict[str, Any], *, creating: bool) -> None:
    """What the built-in registries do to Secrets, Services and Namespaces on write."""
    if rt.group != "":
        return
    if rt.plural == "secrets":
        if not obj.get("type"):  # SetDefaults_Secret: an empty type is Opaque too
            obj["type"] = "Opaque"
        string_data = obj.pop("stringData", None)
        if string_data:
            data = dict(obj.get("data") or {})
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode()).decode()
            obj["data"] = data
    elif rt.plural == "services":
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        if creating and "clusterIP" not in spec and spec["type"] != "ExternalName":
            spec["clusterIP"] = f"10.96.{random.randint(0, 255)}.{random.randint(1, 254)}"
        if spec.get("clusterIP") and spec.get("clusterIP") != "None":
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("sessionAffinity", "None")
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
        if creating:
            obj["status"] = {"loadBalancer": {}}
    elif rt.plural == "namespaces":
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        labels = obj.setdefault("metadata", {}).setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        if creating:
            obj["status"] = {"phase": "Active"}


def strip_for_generation(obj: dict[str, Any]) -> dict[str, Any]:
    """Everything that counts as `spec` for a custom resource's generation."""
    return {key: value for key, value in obj.items() if key not in ("metadata", "status")}


def random_suffix(length: int = 8) -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=length))
