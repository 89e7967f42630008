"""API semantics over the object store: the verbs a kube-apiserver implements.

create / get / list / replace / patch / delete, with the real server's rules: server-owned
metadata (uid, creationTimestamp, resourceVersion, generation bumped on spec changes of
custom resources only), optimistic concurrency (409 Conflict on a stale resourceVersion),
the status subresource (writes to /status change only status; writes to the object keep
the stored status), finalizers and deletionTimestamp, owner-reference garbage collection,
namespace lifecycle, schema validation (422 Invalid) and admission hooks (the simulated
KubeDB webhooks). A write that changes nothing is a no-op: no new resourceVersion, no event.

Both the HTTP layer and the simulated operator call these verbs; the operator passes
`trusted=True` to skip the admission webhooks (schema pruning, defaulting and validation
still apply when it changes a spec, as they do to a real operator's writes; its status and
metadata-only writes, built from known-valid parts, are stored as they are -- a test checks
the operator's objects against the CRDs). This
module never speaks HTTP and never sleeps.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from services.sim import errors, objects, paging, patching, selectors, store
from services.sim.resources import ResourceTable, ResourceType

PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
_ABSENT: Any = object()


class Validator(Protocol):
    def validate(
        self, obj: dict[str, Any], *, strict: bool = False
    ) -> tuple[dict[str, Any], list[dict[str, str]]]: ...


class Admission(Protocol):
    """A simulated admission webhook: mutate, then validate (after schema validation)."""

    def mutate(
        self, cluster: ApiServer, rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> None: ...

    def validate(
        self, cluster: ApiServer, rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> None: ...

    def validate_delete(
        self, cluster: ApiServer, rt: ResourceType, obj: dict[str, Any]
    ) -> None: ...


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class ApiServer:
    def __init__(
        self,
        resources: ResourceTable,
        object_store: store.Store,
        *,
        validator: Validator | None = None,
        clock: Callable[[], datetime.datetime] = _now,
    ) -> None:
        self.resources = resources
        self.store = object_store
        self.validator = validator
        self.clock = clock
        self.admission: list[Admission] = []
        self.dependents: dict[str, set[tuple[str, store.Key]]] = {}
        """Owner uid -> (resource, key) of objects whose ownerReferences name it."""
        self.terminating: set[str] = set()
        object_store.listeners.append(self._index_owners)

    # -- owner index -----------------------------------------------------------------------

    @staticmethod
    def _owner_uids(obj: dict[str, Any] | None) -> set[str]:
        if not obj:
            return set()
        refs = obj.get("metadata", {}).get("ownerReferences") or []
        return {ref["uid"] for ref in refs if isinstance(ref, dict) and ref.get("uid")}

    def _index_owners(self, event: store.Event) -> None:
        before = self._owner_uids(event.old)
        after = set() if event.type == "DELETED" else self._owner_uids(event.entry.obj)
        if before == after:
            return
        item = (event.resource, event.key)
        for uid in before - after:
            dependents = self.dependents.get(uid)
            if dependents is not None:
                dependents.discard(item)
                if not dependents:
                    del self.dependents[uid]
        for uid in after - before:
            self.dependents.setdefault(uid, set()).add(item)

    def reindex(self) -> None:
        """Rebuild what the event listener keeps (owners, terminating namespaces) from the
        stored objects, after the store was restored without events."""
        self.dependents.clear()
        for resource, collection in self.store.collections.items():
            for key, entry in collection.entries.items():
                for uid in self._owner_uids(entry.obj):
                    self.dependents.setdefault(uid, set()).add((resource, key))
        for entry in self.store.collection("namespaces").entries.values():
            if entry.obj["metadata"].get("deletionTimestamp"):
                self.terminating.add(entry.obj["metadata"]["name"])

    # -- reads -----------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> store.Entry:
        entry = self.store.get(rt.key, (namespace or "" if rt.namespaced else "", name))
        if entry is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return entry

    def find(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None:
        """A private copy of the object, or None (for in-process callers)."""
        entry = self.store.get(rt.key, (namespace or "" if rt.namespaced else "", name))
        return entry.copy() if entry else None

    def iterate(
        self, rt: ResourceType, namespace: str | None = None, predicate: Any = None
    ) -> Iterator[store.Entry]:
        collection = self.store.collection(rt.key)
        for key in collection.scan(namespace if rt.namespaced else None, None):
            entry = collection.entries[key]
            if predicate is None or predicate(entry.obj):
                yield entry

    def list(
        self,
        rt: ResourceType,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int = 0,
        continue_token: str | None = None,
    ) -> paging.Page:
        """One page in key order; the continue token carries (list resourceVersion, last key).

        Later pages report the first page's resourceVersion but show the objects as they are
        now (etcd would serve a snapshot); a token older than the history window is 410.
        """
        namespace = namespace if rt.namespaced else None
        return paging.page(
            self.store,
            rt.key,
            namespace,
            predicate=self.predicate(rt, label_selector, field_selector),
            pinned_name=selectors.field_equals(field_selector, "metadata.name"),
            limit=limit,
            continue_token=continue_token,
        )

    def predicate(
        self, rt: ResourceType, label_selector: str | None, field_selector: str | None
    ) -> selectors.Predicate | None:
        return selectors.both(
            selectors.parse_label_selector(label_selector),
            selectors.parse_field_selector(field_selector, allowed=rt.fields),
        )

    # -- writes ----------------------------------------------------------------------------

    def _require_namespace(self, rt: ResourceType, namespace: str, name: str) -> None:
        if not self.store.get("namespaces", ("", namespace)):
            raise errors.not_found("namespaces", "", namespace)
        if namespace in self.terminating:
            error = errors.forbidden(
                f'{errors.qualified(rt.plural, rt.group)} "{name}" is forbidden: unable to '
                f"create new content in namespace {namespace} because it is being terminated",
                plural=rt.plural,
                group=rt.group,
                name=name,
            )
            error.details = dict(
                error.details or {},
                causes=[
                    {
                        "reason": "NamespaceTerminating",
                        "message": f"namespace {namespace} is being terminated",
                        "field": "metadata.namespace",
                    }
                ],
            )
            raise error

    def _admit(
        self,
        rt: ResourceType,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
        *,
        hooks: bool,
        strict: bool = False,
        status_write: bool = False,
    ) -> dict[str, Any]:
        if hooks:
            for hook in self.admission:
                hook.mutate(self, rt, obj, old)
        if rt.custom and self.validator is not None:
            # The stored status was validated when it was written; re-checking it on every
            # spec or metadata write would only cost time (it is the larger half of a DB).
            status = obj.pop("status", _ABSENT) if not status_write else _ABSENT
            try:
                obj, causes = self.validator.validate(obj, strict=strict)
            except LookupError:  # a kind no loaded CRD describes: served unvalidated
                causes = []
            if status is not _ABSENT:
                obj["status"] = status
            unknown = [c["message"] for c in causes if c["message"].startswith("unknown field ")]
            if unknown:
                # Strict decoding fails before validation: 400, as kube-apiserver answers.
                raise errors.bad_request(
                    f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                    f"strict decoding error: {', '.join(unknown)}"
                )
            if causes:
                raise errors.invalid(rt.kind, rt.group, obj["metadata"].get("name", ""), causes)
        if hooks:
            for hook in self.admission:
                hook.validate(self, rt, obj, old)
        return obj

    def create(
        self,
        rt: ResourceType,
        namespace: str | None,
        body: Any,
        *,
        trusted: bool = False,
        strict: bool = False,
        owned: bool = False,
    ) -> store.Entry:
        """Create `body`; `owned` when it is the caller's to give away (parsed from a request
        just now), else it is copied first, so the caller's dict never becomes stored state."""
        identified = objects.check_identity(rt, body, namespace=namespace)
        obj = identified if owned else store.clone(identified)
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        metadata = obj.setdefault("metadata", {})
        if metadata.get("resourceVersion"):
            raise errors.bad_request("resourceVersion should not be set on objects to be created")
        name = metadata.get("name")
        if not name and metadata.get("generateName"):
            name = objects.generate_name(metadata["generateName"])
        if not name:
            raise errors.invalid(
                rt.kind,
                rt.group,
                "",
                [
                    {
                        "reason": "FieldValueRequired",
                        "message": "Required value: name or generateName is required",
                        "field": "metadata.name",
                    }
                ],
            )
        metadata["name"] = name
        if rt.namespaced:
            namespace = namespace or metadata.get("namespace") or "default"
            metadata["namespace"] = namespace
            self._require_namespace(rt, namespace, name)
        else:
            namespace = ""
            metadata.pop("namespace", None)
        causes = objects.name_causes(rt, name)
        if causes:
            raise errors.invalid(rt.kind, rt.group, name, causes)
        for field in objects.SERVER_METADATA:
            metadata.pop(field, None)
        metadata["uid"] = str(uuid.uuid4())
        metadata["creationTimestamp"] = objects.timestamp(self.clock())
        if rt.custom:
            metadata["generation"] = 1
            if rt.has_status:
                obj.pop("status", None)
        objects.apply_core_defaults(rt, obj, creating=True)
        obj = self._admit(rt, obj, None, hooks=not trusted, strict=strict)
        if self.store.get(rt.key, (namespace, name)) is not None:
            raise errors.already_exists(rt.plural, rt.group, name)
        return self.store.put(rt.key, obj)

    def _existing(self, rt: ResourceType, namespace: str | None, name: str) -> store.Entry:
        return self.get(rt, namespace, name)

    @staticmethod
    def _check_preconditions(rt: ResourceType, entry: store.Entry, meta: dict[str, Any]) -> None:
        uid = meta.get("uid")
        if uid and uid != entry.obj["metadata"]["uid"]:
            raise errors.ApiError(
                409,
                "Conflict",
                f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
                f"{entry.obj['metadata']['uid']}",
                details={"name": entry.obj["metadata"]["name"], "kind": rt.plural},
            )
        rv = meta.get("resourceVersion")
        if rv and str(rv) != str(entry.rv):
            raise errors.conflict(rt.plural, rt.group, entry.obj["metadata"]["name"])

    def replace(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        trusted: bool = False,
        strict: bool = False,
    ) -> store.Entry:
        body = objects.check_identity(rt, body, namespace=namespace)
        meta = body.get("metadata") or {}
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL "
                f"({name})"
            )
        entry = self._existing(rt, namespace, name)
        self._check_preconditions(rt, entry, meta)
        if not meta.get("resourceVersion") and rt.custom and not trusted:
            raise errors.invalid(
                rt.kind,
                rt.group,
                name,
                [
                    {
                        "reason": "FieldValueInvalid",
                        "message": "Invalid value: 0: must be specified for an update",
                        "field": "metadata.resourceVersion",
                    }
                ],
            )
        return self._write(
            rt, entry, store.clone(body), subresource=subresource, trusted=trusted, strict=strict
        )

    def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        patch: Any,
        content_type: str,
        *,
        subresource: str | None = None,
        trusted: bool = False,
        strict: bool = False,
    ) -> store.Entry:
        entry = self._existing(rt, namespace, name)
        patched = patching.apply_patch(entry.copy(), patch, content_type, custom=rt.custom)
        if not isinstance(patched, dict):
            raise errors.bad_request("the patched object is not a JSON object")
        meta = patched.get("metadata")
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        if patched.get("apiVersion") != rt.api_version or patched.get("kind") != rt.kind:
            raise errors.bad_request("apiVersion and kind cannot be changed by a patch")
        for field in ("name", "namespace"):
            if meta.get(field, "") != entry.obj["metadata"].get(field, ""):
                raise errors.invalid(
                    rt.kind,
                    rt.group,
                    name,
                    [
                        {
                            "reason": "FieldValueInvalid",
                            "message": f'Invalid value: "{meta.get(field)}": field is immutable',
                            "field": f"metadata.{field}",
                        }
                    ],
                )
        self._check_preconditions(rt, entry, meta)
        return self._write(
            rt, entry, patched, subresource=subresource, trusted=trusted, strict=strict
        )

    def _write(
        self,
        rt: ResourceType,
        entry: store.Entry,
        new: dict[str, Any],
        *,
        subresource: str | None,
        trusted: bool,
        strict: bool = False,
    ) -> store.Entry:
        old = entry.obj
        old_meta = old["metadata"]
        if subresource == "status":
            if not rt.has_status:
                raise errors.not_found(f"{rt.plural}/status", rt.group, old_meta["name"])
            status = new.get("status")
            # Only status changes: the rest of the stored object is shared, not copied (it is
            # immutable by convention); metadata gets a dict of its own, as the resourceVersion
            # is written into it below and by the store.
            new = {**old, "metadata": dict(old_meta)}
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
        else:
            new["apiVersion"], new["kind"] = rt.api_version, rt.kind
            meta = new.setdefault("metadata", {})
            for field in (
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "name",
                "namespace",
            ):
                if field in old_meta:
                    meta[field] = old_meta[field]
                else:
                    meta.pop(field, None)
            if rt.has_status:
                if "status" in old:
                    new["status"] = store.clone(old["status"])
                else:
                    new.pop("status", None)
            if old_meta.get("deletionTimestamp"):
                added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
                if added:
                    raise errors.invalid(
                        rt.kind,
                        rt.group,
                        old_meta["name"],
                        [
                            {
                                "reason": "FieldValueForbidden",
                                "message": "Forbidden: no new finalizers can be added if the "
                                f"object is being deleted, found new finalizers {sorted(added)}",
                                "field": "metadata.finalizers",
                            }
                        ],
                    )
            objects.apply_core_defaults(rt, new, creating=False)
            if rt.custom and objects.strip_for_generation(new) != objects.strip_for_generation(old):
                meta["generation"] = int(old_meta.get("generation", 1)) + 1
        if not trusted or (
            subresource is None
            and objects.strip_for_generation(new) != objects.strip_for_generation(old)
        ):
            new = self._admit(
                rt,
                new,
                old,
                hooks=subresource is None and not trusted,
                strict=strict,
                status_write=subresource == "status",
            )
        new["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
        if new == old:
            return entry
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            return self._remove(rt, new, "Background")
        return self.store.put(rt.key, new)

    # -- deletion --------------------------------------------------------------------------

    def delete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        *,
        options: dict[str, Any] | None = None,
        trusted: bool = False,
    ) -> tuple[store.Entry, bool]:
        """Delete or mark for deletion; returns (latest version, removed now?)."""
        options = options or {}
        entry = self._existing(rt, namespace, name)
        preconditions = options.get("preconditions") or {}
        self._check_preconditions(rt, entry, preconditions)
        if not trusted:
            for hook in self.admission:
                hook.validate_delete(self, rt, entry.obj)
        policy = options.get("propagationPolicy") or (
            "Orphan" if options.get("orphanDependents") else "Background"
        )
        if rt.key == "namespaces":
            return self._delete_namespace(rt, entry)
        obj = entry.copy()
        meta = obj["metadata"]
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return entry, False
            meta["deletionTimestamp"] = objects.timestamp(self.clock())
            meta["deletionGracePeriodSeconds"] = 0
            return self.store.put(rt.key, obj), False
        return self._remove(rt, obj, policy), True

    def _remove(self, rt: ResourceType, obj: dict[str, Any], policy: str) -> store.Entry:
        uid = obj["metadata"]["uid"]
        dependents = sorted(self.dependents.get(uid, ()))
        if policy == "Foreground":
            self._collect(uid, dependents, orphan=False)
        entry = self.store.remove(rt.key, obj)
        if policy != "Foreground":
            self._collect(uid, dependents, orphan=policy == "Orphan")
        namespace = obj["metadata"].get("namespace")
        if namespace and namespace in self.terminating:
            self._finish_namespace(namespace)
        return entry

    def _collect(
        self, owner_uid: str, dependents: Sequence[tuple[str, store.Key]], *, orphan: bool
    ) -> None:
        """The garbage collector: delete (or orphan) what the removed owner owned."""
        for resource, (namespace, name) in dependents:
            rt = self.resources.by_key(resource)
            current = self.store.get(resource, (namespace, name))
            if current is None:
                continue
            if orphan:
                obj = current.copy()
                refs = obj["metadata"].get("ownerReferences") or []
                obj["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != owner_uid]
                self._write(rt, current, obj, subresource=None, trusted=True)
                continue
            try:
                self.delete(rt, namespace, name, trusted=True)
            except errors.ApiError:
                continue

    def _delete_namespace(self, rt: ResourceType, entry: store.Entry) -> tuple[store.Entry, bool]:
        name = entry.obj["metadata"]["name"]
        if name in PROTECTED_NAMESPACES:
            raise errors.forbidden(
                f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                plural="namespaces",
                name=name,
            )
        if not entry.obj["metadata"].get("deletionTimestamp"):
            obj = entry.copy()
            obj["metadata"]["deletionTimestamp"] = objects.timestamp(self.clock())
            obj["metadata"]["deletionGracePeriodSeconds"] = 0
            obj["status"] = {"phase": "Terminating"}
            entry = self.store.put(rt.key, obj)
        self.terminating.add(name)
        for content_rt in self.resources.types:
            if not content_rt.namespaced:
                continue
            for key in list(self.store.collection(content_rt.key).scan(name, None)):
                try:
                    self.delete(content_rt, name, key[1])
                except errors.ApiError:
                    continue
        self._finish_namespace(name)
        return entry, False

    def _finish_namespace(self, namespace: str) -> None:
        for rt in self.resources.types:
            if rt.namespaced and next(self.store.collection(rt.key).scan(namespace, None), None):
                return
        self.terminating.discard(namespace)
        entry = self.store.get("namespaces", ("", namespace))
        if entry is not None:
            self.store.remove("namespaces", entry.copy())

    def vanish(self, rt: ResourceType, namespace: str | None, name: str) -> store.Entry:
        """Remove an object at once, ignoring finalizers and webhooks (a fault, not an API)."""
        entry = self._existing(rt, namespace, name)
        return self._remove(rt, entry.copy(), "Background")
