"""Validate objects against the real KubeDB CRDs, the way kube-apiserver does on every write.

The simulated cluster must answer like a real API server: unknown fields pruned (or refused
under `fieldValidation=Strict`), schema defaults applied, and 422 Invalid with per-field
causes when the openAPIV3Schema says no. The order is the apiserver's: prune unknown fields
and non-nullable nulls, apply defaults, then validate (jsonschema, Draft 7, on a copy of the
schema cleaned of the Kubernetes extensions). Defaults apply on every write, create or update,
as the apiserver's decoder applies them. The same registry serves the discovery facts (group,
version, plural, scope) of every CRD it loaded.

Not modelled: uniqueness of `x-kubernetes-list-type: map|set` items, int32/int64 ranges, CEL
rules (none in these CRDs). A real server answers unknown fields under Strict with 400
BadRequest ("strict decoding error: unknown field ...") rather than 422: `check()` returns them
apart (`unknown_fields`) so a caller can do the same, or turn them into Warning headers.

This module must never carry copies of the CRDs (it reads the directory or pack it is given), never
mutate the caller's object, and never talk HTTP: the sim server and the REST API call it.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import jsonschema
import yaml

Cause = dict[str, str]

# ObjectMeta fields a real server keeps; anything else under a root `metadata` is dropped.
OBJECT_META_FIELDS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)
_RESOURCE_ROOT_FIELDS = ("apiVersion", "kind", "metadata")
_CRD_KIND = "CustomResourceDefinition"

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")

# Messages as k8s.io/apimachinery's validation helpers word them.
_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_LABEL_VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
_QUALIFIED_NAME_MESSAGE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used "
    "for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


class UnknownKind(LookupError):
    """The object's apiVersion/kind is not served by any loaded CRD."""


@dataclass(frozen=True)
class CrdResource:
    """Discovery facts of one CRD; `version` is the storage version."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    categories: tuple[str, ...]
    namespaced: bool
    has_status: bool
    served_versions: tuple[str, ...]
    list_kind: str = ""
    columns: tuple[tuple[str, str, str], ...] = ()
    """The storage version's additionalPrinterColumns: (name, type, jsonPath)."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


class Validation(NamedTuple):
    """What the apiserver would store, why it refuses, and which fields it dropped."""

    obj: dict[str, Any]
    causes: list[Cause]
    unknown_fields: list[str]


@dataclass(eq=False)
class _Node:
    """The structural facts of one schema node that pruning and defaulting need."""

    properties: dict[str, _Node] = field(default_factory=dict)
    defaults: tuple[tuple[str, Any], ...] = ()
    items: _Node | None = None
    additional: _Node | None = None
    preserve_unknown: bool = False
    nullable: bool = False
    embedded: bool = False


class _Compiled(NamedTuple):
    root: _Node
    validator: jsonschema.protocols.Validator


class SchemaRegistry:
    """CRDs by group/kind, with validators compiled lazily once per served version."""

    def __init__(self, crds: Iterable[Mapping[str, Any]] = ()) -> None:
        self._by_kind: dict[tuple[str, str], CrdResource] = {}
        self._by_plural: dict[tuple[str, str], CrdResource] = {}
        self._schemas: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._compiled: dict[tuple[str, str, str], _Compiled] = {}
        self._lock = threading.Lock()
        for crd in crds:
            self._add(crd)

    @classmethod
    def load(cls, directory: Path, *, cache_dir: Path | None = None) -> SchemaRegistry:
        """Every CRD in `directory` (*.yaml, *.yml); `cache_dir` keeps parsed copies as JSON."""
        crds: list[Mapping[str, Any]] = []
        for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
            for document in _read_documents(path, cache_dir):
                if isinstance(document, dict) and document.get("kind") == _CRD_KIND:
                    crds.append(document)
        return cls(crds)

    @classmethod
    def empty(cls) -> SchemaRegistry:
        return cls(())

    def resources(self) -> list[CrdResource]:
        return sorted(self._by_kind.values(), key=lambda r: (r.group, r.kind))

    def lookup(self, api_version: str, kind: str) -> CrdResource | None:
        """The CRD serving `kind` at `api_version` (any served version), else None."""
        group, _, version = api_version.rpartition("/")
        resource = self._by_kind.get((group, kind))
        if resource is None or version not in resource.served_versions:
            return None
        return resource

    def schema(self, group: str, version: str, kind: str) -> Mapping[str, Any] | None:
        """The openAPIV3Schema of one served version (not to be mutated)."""
        return self._schemas.get((group, version, kind))

    def lookup_plural(self, group: str, plural: str) -> CrdResource | None:
        return self._by_plural.get((group, plural))

    def validate(
        self, obj: Mapping[str, Any], *, strict: bool = False
    ) -> tuple[dict[str, Any], list[Cause]]:
        """(pruned and defaulted copy, causes); with strict, unknown fields become causes."""
        result = self.check(obj)
        causes = list(result.causes)
        if strict:
            causes = [_unknown_field_cause(path) for path in result.unknown_fields] + causes
        return result.obj, causes

    def check(self, obj: Mapping[str, Any]) -> Validation:
        """Prune, default and validate `obj`; raises UnknownKind for a kind no CRD serves."""
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str):
            raise UnknownKind(f"no kind {kind!r} in version {api_version!r}")
        resource = self.lookup(api_version, kind)
        if resource is None:
            raise UnknownKind(f"no kind {kind!r} is registered for version {api_version!r}")
        compiled = self._compile(resource.group, api_version.rpartition("/")[2], kind)
        unknown: list[str] = []
        shaped = _shape_object(obj, compiled.root, "", unknown, resource_root=True)
        causes = _metadata_causes(shaped.get("metadata"), namespaced=resource.namespaced)
        causes += _schema_causes(compiled.validator, shaped)
        return Validation(shaped, causes, unknown)

    def _add(self, crd: Mapping[str, Any]) -> None:
        spec = crd["spec"]
        names = spec["names"]
        versions = spec["versions"]
        storage = next(v for v in versions if v.get("storage"))
        resource = CrdResource(
            group=spec["group"],
            version=storage["name"],
            kind=names["kind"],
            plural=names["plural"],
            singular=names.get("singular") or names["kind"].lower(),
            short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()),
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            has_status="status" in (storage.get("subresources") or {}),
            served_versions=tuple(v["name"] for v in versions if v.get("served")),
            list_kind=names.get("listKind") or names["kind"] + "List",
            columns=tuple(
                (c["name"], c["type"], c["jsonPath"])
                for c in storage.get("additionalPrinterColumns") or ()
            ),
        )
        self._by_kind[(resource.group, resource.kind)] = resource
        self._by_plural[(resource.group, resource.plural)] = resource
        for version in versions:
            schema = (version.get("schema") or spec.get("validation") or {}).get(
                "openAPIV3Schema", {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            )
            self._schemas[(resource.group, version["name"], resource.kind)] = schema

    def _compile(self, group: str, version: str, kind: str) -> _Compiled:
        key = (group, version, kind)
        compiled = self._compiled.get(key)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(key)
                if compiled is None:
                    schema = self._schemas[key]
                    validator = jsonschema.Draft7Validator(
                        _clean(schema), format_checker=_FORMAT_CHECKER
                    )
                    compiled = _Compiled(_compile_node(schema), validator)
                    self._compiled[key] = compiled
        return compiled


def _read_documents(path: Path, cache_dir: Path | None) -> list[Any]:
    """The YAML documents of `path`, parsed once per (mtime, size) when a cache dir is given."""
    if cache_dir is None:
        return list(yaml.load_all(path.read_bytes(), Loader=yaml.CSafeLoader))
    stat = path.stat()
    cached = cache_dir / f"{path.name}.{stat.st_mtime_ns}.{stat.st_size}.json"
    try:
        documents: list[Any] = json.loads(cached.read_bytes())
        return documents
    except (OSError, ValueError):
        pass
    documents = list(yaml.load_all(path.read_bytes(), Loader=yaml.CSafeLoader))
    cache_dir.mkdir(parents=True, exist_ok=True)
    for stale in cache_dir.glob(f"{path.name}.*.json"):
        stale.unlink(missing_ok=True)
    # Several processes may start at once: write aside, then rename atomically.
    scratch = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
    scratch.write_text(json.dumps(documents, default=str), encoding="utf-8")
    os.replace(scratch, cached)
    return documents


# --- structural schema: pruning and defaulting --------------------------------------------


def _compile_node(schema: Mapping[str, Any]) -> _Node:
    properties = {
        name: _compile_node(sub) for name, sub in (schema.get("properties") or {}).items()
    }
    raw_properties = schema.get("properties") or {}
    items = schema.get("items")
    additional = schema.get("additionalProperties")
    return _Node(
        properties=properties,
        defaults=tuple((n, s["default"]) for n, s in raw_properties.items() if "default" in s),
        items=_compile_node(items) if isinstance(items, dict) else None,
        additional=_compile_node(additional) if isinstance(additional, dict) else None,
        # additionalProperties: true (allowed only without properties) keeps everything too.
        preserve_unknown=bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        or additional is True,
        nullable=bool(schema.get("nullable")),
        embedded=bool(schema.get("x-kubernetes-embedded-resource")),
    )


def _shape(value: Any, node: _Node, path: str, unknown: list[str]) -> Any:
    """A fresh copy of `value` pruned to `node`, with defaults applied."""
    if isinstance(value, dict):
        return _shape_object(value, node, path, unknown, resource_root=node.embedded)
    if isinstance(value, list):
        if node.items is None:
            return _json_copy(value)
        return [_shape(item, node.items, f"{path}[{i}]", unknown) for i, item in enumerate(value)]
    return value


def _shape_object(
    value: Mapping[str, Any],
    node: _Node,
    path: str,
    unknown: list[str],
    *,
    resource_root: bool,
) -> dict[str, Any]:
    shaped: dict[str, Any] = {}
    prefix = f"{path}." if path else ""
    for key, item in value.items():
        if resource_root and key == "metadata" and isinstance(item, dict):
            shaped[key] = _shape_object_meta(item, f"{prefix}metadata", unknown)
            continue
        child = node.properties.get(key)
        if child is None:
            child = node.additional
        if child is not None:
            if item is None and not child.nullable:
                continue  # non-nullable nulls are pruned (and defaulted below when possible)
            shaped[key] = _shape(item, child, prefix + key, unknown)
        elif node.preserve_unknown or (resource_root and key in _RESOURCE_ROOT_FIELDS):
            shaped[key] = _json_copy(item)
        else:
            unknown.append(prefix + key)
    for key, default in node.defaults:
        if key not in shaped:
            shaped[key] = _shape(default, node.properties[key], prefix + key, [])
    return shaped


def _shape_object_meta(meta: Mapping[str, Any], path: str, unknown: list[str]) -> dict[str, Any]:
    shaped: dict[str, Any] = {}
    for key, item in meta.items():
        if key in OBJECT_META_FIELDS:
            shaped[key] = _json_copy(item)
        else:
            unknown.append(f"{path}.{key}")
    return shaped


def _json_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_copy(item) for item in value]
    return value


# --- validation ----------------------------------------------------------------------------


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.fullmatch(value):
        return False
    datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    return True


# Only date-time is checked: int32/int64 are not range-checked (leniently).
_FORMAT_CHECKER = jsonschema.FormatChecker(formats=())
_FORMAT_CHECKER.checks("date-time", raises=ValueError)(_is_date_time)


def _clean(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A Draft 7 copy: Kubernetes extensions folded into plain keywords, defaults dropped."""
    cleaned: dict[str, Any] = {}
    int_or_string = bool(schema.get("x-kubernetes-int-or-string"))
    for key, value in schema.items():
        if key.startswith("x-kubernetes-") or key in ("nullable", "default", "description"):
            continue
        if key == "format" and value != "date-time":
            continue  # int32/int64/... are not checked (leniently, like most clients)
        if key == "anyOf" and int_or_string:
            continue  # replaced by the type list below, for an apiserver-like type message
        if key == "properties":
            cleaned[key] = {name: _clean(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            cleaned[key] = _clean(value)
        elif key in ("anyOf", "allOf", "oneOf"):
            cleaned[key] = [_clean(sub) for sub in value]
        else:
            cleaned[key] = value
    if int_or_string:
        cleaned["type"] = ["integer", "string"]
    if schema.get("nullable") and "type" in cleaned:
        types = cleaned["type"] if isinstance(cleaned["type"], list) else [cleaned["type"]]
        cleaned["type"] = [*types, "null"]
    return cleaned


def _schema_causes(validator: jsonschema.protocols.Validator, obj: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    seen: set[str] = set()
    for error in validator.iter_errors(obj):
        for cause in _error_causes(error):
            key = cause["field"] + "\0" + cause["message"]
            if key not in seen:
                seen.add(key)
                causes.append(cause)
    return causes


def _error_causes(error: jsonschema.ValidationError) -> list[Cause]:
    path = _field_path(error.absolute_path)
    value = error.instance
    kind = error.validator
    if kind == "required":
        missing = [name for name in error.validator_value if name not in value]
        return [_cause("FieldValueRequired", "Required value", _join(path, n)) for n in missing]
    if kind == "type":
        expected = error.validator_value
        expected = ",".join(expected) if isinstance(expected, list) else expected
        got = _json_type(value)
        detail = f"{path} in body must be of type {expected}: {_quote(got)}"
        return [_cause("FieldValueTypeInvalid", f"Invalid value: {_quote(got)}: {detail}", path)]
    if kind == "enum":
        supported = ", ".join(_quote(str(v)) for v in error.validator_value)
        message = f"Unsupported value: {_go_value(value)}: supported values: {supported}"
        return [_cause("FieldValueNotSupported", message, path)]
    if kind == "format":
        detail = f"{path} in body must be of type {error.validator_value}: {_quote(str(value))}"
        message = f"Invalid value: {_go_value(value)}: {detail}"
        return [_cause("FieldValueTypeInvalid", message, path)]
    if kind in ("maxLength", "maxItems", "maxProperties"):
        reason = "FieldValueTooLong" if kind == "maxLength" else "FieldValueTooMany"
        unit = " bytes" if kind == "maxLength" else ""
        message = f"{'Too long' if kind == 'maxLength' else 'Too many'}: may not be more than "
        return [_cause(reason, f"{message}{error.validator_value}{unit}", path)]
    detail = {
        "pattern": f"{path} in body should match '{error.validator_value}'",
        "minimum": f"{path} in body should be greater than or equal to {error.validator_value}",
        "maximum": f"{path} in body should be less than or equal to {error.validator_value}",
        "minLength": f"{path} in body should be at least {error.validator_value} chars long",
        "minItems": f"{path} in body should have at least {error.validator_value} items",
    }.get(str(kind), f"{path} in body {error.message}")
    return [_cause("FieldValueInvalid", f"Invalid value: {_go_value(value)}: {detail}", path)]


def _metadata_causes(meta: Any, *, namespaced: bool) -> list[Cause]:
    """ObjectMeta rules the apiserver applies to every custom resource (loosely)."""
    if meta is None:
        return [_cause("FieldValueRequired", "Required value", "metadata")]
    if not isinstance(meta, dict):
        return []  # the schema's `type: object` reports it
    causes: list[Cause] = []
    name = meta.get("name")
    if not name and not meta.get("generateName"):
        message = "Required value: name or generateName is required"
        causes.append(_cause("FieldValueRequired", message, "metadata.name"))
    elif isinstance(name, str) and not _is_dns_subdomain(name):
        message = f"Invalid value: {_quote(name)}: {_SUBDOMAIN_MESSAGE}"
        causes.append(_cause("FieldValueInvalid", message, "metadata.name"))
    namespace = meta.get("namespace")
    if namespace and not namespaced:
        message = "Forbidden: not allowed on this type"
        causes.append(_cause("FieldValueForbidden", message, "metadata.namespace"))
    elif isinstance(namespace, str) and namespace and not _is_dns_label(namespace):
        message = f"Invalid value: {_quote(namespace)}: {_LABEL_MESSAGE}"
        causes.append(_cause("FieldValueInvalid", message, "metadata.namespace"))
    causes += _labels_causes(meta.get("labels"))
    causes += _string_map_causes(meta.get("annotations"), "metadata.annotations")
    finalizers = meta.get("finalizers")
    if finalizers is not None and not (
        isinstance(finalizers, list) and all(isinstance(f, str) for f in finalizers)
    ):
        message = "Invalid value: finalizers must be a list of strings"
        causes.append(_cause("FieldValueTypeInvalid", message, "metadata.finalizers"))
    return causes


def _labels_causes(labels: Any) -> list[Cause]:
    causes = _string_map_causes(labels, "metadata.labels")
    if causes or not labels:
        return causes
    for key, value in labels.items():
        name = key.rpartition("/")[2]
        prefix = key.rpartition("/")[0]
        if len(name) > 63 or not _QUALIFIED_NAME.fullmatch(name):
            message = f"Invalid value: {_quote(key)}: {_QUALIFIED_NAME_MESSAGE}"
            causes.append(_cause("FieldValueInvalid", message, "metadata.labels"))
        elif prefix and not _is_dns_subdomain(prefix):
            message = f"Invalid value: {_quote(key)}: prefix part {_SUBDOMAIN_MESSAGE}"
            causes.append(_cause("FieldValueInvalid", message, "metadata.labels"))
        if len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
            message = f"Invalid value: {_quote(value)}: {_LABEL_VALUE_MESSAGE}"
            causes.append(_cause("FieldValueInvalid", message, "metadata.labels"))
    return causes


def _is_dns_subdomain(text: str) -> bool:
    return len(text) <= 253 and _DNS1123_SUBDOMAIN.fullmatch(text) is not None


def _is_dns_label(text: str) -> bool:
    return len(text) <= 63 and _DNS1123_LABEL.fullmatch(text) is not None


def _string_map_causes(mapping: Any, path: str) -> list[Cause]:
    if mapping is None:
        return []
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        detail = f"{path} in body must be a map of strings"
        return [_cause("FieldValueTypeInvalid", f"Invalid value: {_quote(path)}: {detail}", path)]
    return []


def _unknown_field_cause(path: str) -> Cause:
    return _cause("FieldValueInvalid", f"unknown field {_quote(path)}", path)


def _cause(reason: str, message: str, path: str) -> Cause:
    return {"reason": reason, "message": message, "field": path}


def _field_path(parts: Iterable[str | int]) -> str:
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _go_value(value: Any) -> str:
    """A bad value printed the way field.Error prints it (%q strings, %v scalars)."""
    if value is None:
        return '"null"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return _quote(value)
    return json.dumps(value, sort_keys=True)
