"""`/openapi/v2` and `/openapi/v3`, built from the schemas the sim validates with.

kubectl needs both before `create -f` / `apply -f` with validation on: it parses the v2
document (always protobuf: client-go's `OpenAPISchema()` sends only
`Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf` and unmarshals the
body as gnostic's `openapi_v2.Document`), and it reads the per-group-version v3 documents
to learn whether a kind's PATCH takes `fieldValidation` (cli-runtime's
`queryParamVerifierV3`). Since every served kind does, kubectl leaves validation to the
server (`fieldValidation=Strict`), which runs the same schemas. `kubectl explain` reads the
v3 documents too.

The v2 conversion follows what kube-apiserver publishes for a CRD, simplified: what v2
cannot say is left open (nullable and int-or-string fields lose their type, anyOf/oneOf/not
are dropped, preserve-unknown-fields and free-form objects become arbitrary), and
`metadata` is arbitrary rather than a reference to ObjectMeta. Core kinds are published
as open objects. The documents are built on first request and kept (the schemas never
change while the sim runs). This module never touches the store.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from services.sim.resources import ResourceTable, ResourceType

V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
"""The Content-Type kube-apiserver answers with (clients ask with `...spec.v2@v1.0+protobuf`,
but Go's mime parser refuses an `@` in a response's media type)."""
GVK = "x-kubernetes-group-version-kind"


class Schemas(Protocol):
    def schema(self, group: str, version: str, kind: str) -> Mapping[str, Any] | None: ...


_OPEN_OBJECT: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def _gvk(rt: ResourceType) -> dict[str, str]:
    return {"group": rt.group, "version": rt.version, "kind": rt.kind}


def definition_name(rt: ResourceType) -> str:
    """`com.kubedb.v1.Postgres`, `io.k8s.api.core.v1.Secret`: reversed group, as the apiserver."""
    if not rt.group:
        return f"io.k8s.api.core.v1.{rt.kind}"
    if rt.group.endswith(".k8s.io"):
        return f"io.k8s.api.{rt.group.split('.')[0]}.{rt.version}.{rt.kind}"
    return ".".join(reversed(rt.group.split("."))) + f".{rt.version}.{rt.kind}"


def _schema_of(rt: ResourceType, schemas: Schemas | None) -> dict[str, Any]:
    found = schemas.schema(rt.group, rt.version, rt.kind) if schemas and rt.custom else None
    schema = dict(found) if found else dict(_OPEN_OBJECT)
    schema[GVK] = [_gvk(rt)]
    return schema


def gv_path(rt: ResourceType) -> str:
    """The index key of a kind's group-version: `api/v1`, `apis/kubedb.com/v1`."""
    return f"apis/{rt.group}/{rt.version}" if rt.group else f"api/{rt.version}"


# -- v3 --------------------------------------------------------------------------------------


_QUERY_PARAMETERS = ("dryRun", "fieldManager", "fieldValidation", "pretty")


def _operation(rt: ResourceType, action: str, ref: str) -> dict[str, Any]:
    return {
        "operationId": f"{action}{rt.kind}",
        "parameters": [
            {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
            for name in _QUERY_PARAMETERS
        ],
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": ref}}}}
        },
        "x-kubernetes-action": action,
        GVK: _gvk(rt),
    }


def _v3_paths(rt: ResourceType, ref: str) -> dict[str, Any]:
    prefix = "/" + gv_path(rt)
    collection = (
        f"{prefix}/namespaces/{{namespace}}/{rt.plural}"
        if rt.namespaced
        else f"{prefix}/{rt.plural}"
    )
    item = f"{collection}/{{name}}"
    paths = {
        collection: {
            "get": _operation(rt, "list", ref),
            "post": _operation(rt, "post", ref),
        },
        item: {
            "get": _operation(rt, "get", ref),
            "put": _operation(rt, "put", ref),
            "patch": _operation(rt, "patch", ref),
            "delete": _operation(rt, "delete", ref),
        },
    }
    if rt.has_status:
        paths[f"{item}/status"] = {
            "get": _operation(rt, "get", ref),
            "put": _operation(rt, "put", ref),
            "patch": _operation(rt, "patch", ref),
        }
    return paths


def v3_documents(table: ResourceTable, schemas: Schemas | None) -> dict[str, dict[str, Any]]:
    """Group-version path -> its OpenAPI 3.0 document."""
    documents: dict[str, dict[str, Any]] = {}
    for rt in table.types:
        document = documents.setdefault(
            gv_path(rt),
            {
                "openapi": "3.0.0",
                "info": {"title": "dbaas sim", "version": rt.version},
                "paths": {},
                "components": {"schemas": {}},
            },
        )
        name = definition_name(rt)
        document["components"]["schemas"][name] = _schema_of(rt, schemas)
        document["paths"].update(_v3_paths(rt, f"#/components/schemas/{name}"))
    return documents


def v3_index(documents: Mapping[str, bytes]) -> dict[str, Any]:
    """`/openapi/v3`: each group-version with a content-hashed URL, as the apiserver's."""
    return {
        "paths": {
            path: {
                "serverRelativeURL": f"/openapi/v3/{path}?hash="
                + hashlib.sha512(body).hexdigest()[:128].upper()
            }
            for path, body in sorted(documents.items())
        }
    }


# -- v2 (protobuf) ---------------------------------------------------------------------------


def v2_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A structural v3 schema as the v2 document can say it (see the module docstring)."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return {}
    converted: dict[str, Any] = {}
    open_type = schema.get("nullable") or schema.get("x-kubernetes-int-or-string")
    for key, value in schema.items():
        if key in ("anyOf", "oneOf", "allOf", "not", "nullable", "default"):
            continue
        if key == "type" and open_type:
            continue
        if key == "properties":
            converted[key] = {
                name: ({} if name == "metadata" else v2_schema(sub)) for name, sub in value.items()
            }
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            converted[key] = v2_schema(value)
        else:
            converted[key] = value
    if converted.get("type") == "object" and not (
        converted.get("properties") or "additionalProperties" in converted
    ):
        converted.pop("type")  # a free-form object: any keys
    return converted


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _bytes(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _string(field: int, text: str) -> bytes:
    return _bytes(field, text.encode()) if text else b""


def _number(field: int, value: int | bool) -> bytes:
    return _varint(field << 3) + _varint(int(value)) if value else b""


def _double(field: int, value: float) -> bytes:
    return _varint(field << 3 | 1) + struct.pack("<d", float(value))


def _any(value: Any) -> bytes:
    """gnostic's `Any`: the value as YAML text (JSON is YAML)."""
    return _string(2, json.dumps(value, sort_keys=True))


def _named_any(name: str, value: Any) -> bytes:
    return _string(1, name) + _bytes(2, _any(value))


def _schema(schema: Mapping[str, Any]) -> bytes:
    out = bytearray()
    out += _string(1, schema.get("$ref", ""))
    out += _string(2, str(schema.get("format", "")))
    for field, key in ((7, "maximum"), (9, "minimum"), (6, "multipleOf")):
        if key in schema:
            out += _double(field, schema[key])
    out += _number(8, bool(schema.get("exclusiveMaximum")))
    out += _number(10, bool(schema.get("exclusiveMinimum")))
    for field, key in (
        (11, "maxLength"),
        (12, "minLength"),
        (14, "maxItems"),
        (15, "minItems"),
        (17, "maxProperties"),
        (18, "minProperties"),
    ):
        out += _number(field, int(schema.get(key, 0)))
    out += _string(13, str(schema.get("pattern", "")))
    out += _number(16, bool(schema.get("uniqueItems")))
    for name in schema.get("required") or ():
        out += _bytes(19, name.encode())
    for value in schema.get("enum") or ():
        out += _bytes(20, _any(value))
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        out += _bytes(21, _bytes(1, _schema(additional)))
    elif isinstance(additional, bool):
        out += _bytes(21, _varint(2 << 3) + _varint(int(additional)))
    kind = schema.get("type")
    if kind:
        kinds = kind if isinstance(kind, list) else [kind]
        out += _bytes(22, b"".join(_bytes(1, k.encode()) for k in kinds))
    items = schema.get("items")
    if isinstance(items, dict):
        out += _bytes(23, _bytes(1, _schema(items)))
    properties = schema.get("properties")
    if properties:
        named = b"".join(
            _bytes(1, _string(1, name) + _bytes(2, _schema(sub)))
            for name, sub in properties.items()
        )
        out += _bytes(25, named)
    for key, value in schema.items():
        if key.startswith("x-"):
            out += _bytes(31, _named_any(key, value))
    return bytes(out)


def v2_document(types: Iterable[ResourceType], schemas: Schemas | None) -> bytes:
    """The whole v2 document, definitions only, encoded as gnostic's `openapi_v2.Document`."""
    definitions = bytearray()
    for rt in types:
        schema = v2_schema(_schema_of(rt, schemas))
        schema[GVK] = [_gvk(rt)]
        definitions += _bytes(1, _string(1, definition_name(rt)) + _bytes(2, _schema(schema)))
    info = _string(1, "dbaas sim") + _string(2, "v2")
    return _string(1, "2.0") + _bytes(2, info) + _bytes(8, b"") + _bytes(9, bytes(definitions))


class OpenApi:
    """The documents of one sim, encoded once."""

    def __init__(self, table: ResourceTable, schemas: Schemas | None) -> None:
        self._table = table
        self._schemas = schemas
        self._v2: bytes | None = None
        self._v3: dict[str, bytes] | None = None

    def v2(self) -> bytes:
        if self._v2 is None:
            self._v2 = v2_document(self._table.types, self._schemas)
        return self._v2

    def v3(self) -> dict[str, bytes]:
        if self._v3 is None:
            self._v3 = {
                path: json.dumps(document, separators=(",", ":")).encode()
                for path, document in v3_documents(self._table, self._schemas).items()
            }
        return self._v3
