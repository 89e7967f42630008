"""Kubernetes protobuf request bodies for the core kinds kubectl writes that way.

kubectl sends typed core objects (`kubectl create secret ...`, `kubectl create namespace`)
as `application/vnd.kubernetes.protobuf` and does not fall back to JSON on 415. The body is
apimachinery's envelope: the magic `k8s\\x00`, then a `runtime.Unknown` {typeMeta{apiVersion,
kind}=1, raw=2, contentEncoding=3, contentType=4} whose `raw` is the object's message from
k8s.io/api's generated.proto. This decodes the kinds served here that have a flat enough
message to map to JSON: Secret, Namespace and Service (with ObjectMeta); anything else is
refused with 415, which is what the server answers for a media type it cannot read. Decoding
only: answers stay JSON, which clients accept. No I/O.

Go's generated marshallers write every non-pointer field, empty or not, where JSON omits
empty ones: a Service decoded here leaves out empty strings, zeros and false, so that the
defaulting that follows (a cluster IP, `type: ClusterIP`) sees what a JSON body would show.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"


class Undecodable(ValueError):
    """The body is not a protobuf object this server can read."""


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data):
            raise Undecodable("truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) pairs: varints as int, length-delimited as bytes."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
            yield number, value
        elif wire == 2:
            size, at = _varint(data, at)
            if at + size > len(data):
                raise Undecodable("truncated field")
            yield number, data[at : at + size]
            at += size
        elif wire == 1:
            at += 8
        elif wire == 5:
            at += 4
        else:
            raise Undecodable(f"unsupported wire type {wire}")


def _text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise Undecodable("expected a string")
    return value.decode()


def _entry(value: int | bytes) -> tuple[str, bytes]:
    if not isinstance(value, bytes):
        raise Undecodable("expected a map entry")
    key, item = "", b""
    for number, part in fields(value):
        if number == 1:
            key = _text(part)
        elif number == 2 and isinstance(part, bytes):
            item = part
    return key, item


def object_meta(data: bytes) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    names = {1: "name", 2: "generateName", 3: "namespace", 6: "resourceVersion"}
    for number, value in fields(data):
        if number in names:
            meta[names[number]] = _text(value)
        elif number in (11, 12):
            key, item = _entry(value)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = item.decode()
        elif number == 14:
            meta.setdefault("finalizers", []).append(_text(value))
    return meta


def _secret(data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret"}
    for number, value in fields(data):
        if number == 1 and isinstance(value, bytes):
            obj["metadata"] = object_meta(value)
        elif number == 2:
            key, item = _entry(value)
            obj.setdefault("data", {})[key] = base64.b64encode(item).decode()
        elif number == 3:
            obj["type"] = _text(value)
        elif number == 4:
            key, item = _entry(value)
            obj.setdefault("stringData", {})[key] = item.decode()
        elif number == 5:
            obj["immutable"] = bool(value)
    return obj


def _namespace(data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Namespace"}
    for number, value in fields(data):
        if number == 1 and isinstance(value, bytes):
            obj["metadata"] = object_meta(value)
    return obj


def _int_or_string(data: bytes) -> int | str:
    kind, number, text = 0, 0, ""
    for field, value in fields(data):
        if field == 1 and isinstance(value, int):
            kind = value
        elif field == 2 and isinstance(value, int):
            number = _int32(value)
        elif field == 3:
            text = _text(value)
    return text if kind == 1 else number


def _int32(value: int | bytes) -> int:
    if not isinstance(value, int):
        raise Undecodable("expected a number")
    return value - (1 << 64) if value >= 1 << 63 else value


def _service_port(data: bytes) -> dict[str, Any]:
    port: dict[str, Any] = {}
    texts = {1: "name", 2: "protocol", 6: "appProtocol"}
    numbers = {3: "port", 5: "nodePort"}
    for number, value in fields(data):
        if number in texts:
            port[texts[number]] = _text(value)
        elif number in numbers:
            port[numbers[number]] = _int32(value)
        elif number == 4 and isinstance(value, bytes):
            port["targetPort"] = _int_or_string(value)
    return {key: item for key, item in port.items() if item not in ("", 0)}


# ServiceSpec (k8s.io/api core/v1 generated.proto): field number -> JSON name, by wire shape.
_SPEC_TEXTS = {
    3: "clusterIP",
    4: "type",
    7: "sessionAffinity",
    8: "loadBalancerIP",
    10: "externalName",
    11: "externalTrafficPolicy",
    17: "ipFamilyPolicy",
    21: "loadBalancerClass",
    22: "internalTrafficPolicy",
    23: "trafficDistribution",
}
_SPEC_TEXT_LISTS = {
    5: "externalIPs",
    9: "loadBalancerSourceRanges",
    18: "clusterIPs",
    19: "ipFamilies",
}
_SPEC_NUMBERS = {12: "healthCheckNodePort"}
_SPEC_FLAGS = {13: "publishNotReadyAddresses"}
_SPEC_POINTER_FLAGS = {20: "allocateLoadBalancerNodePorts"}
"""A *bool: written only when set, so false is kept."""


def _service_spec(data: bytes) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    for number, value in fields(data):
        if number == 1 and isinstance(value, bytes):
            spec.setdefault("ports", []).append(_service_port(value))
        elif number == 2:
            key, item = _entry(value)
            spec.setdefault("selector", {})[key] = item.decode()
        elif number in _SPEC_TEXTS:
            spec[_SPEC_TEXTS[number]] = _text(value)
        elif number in _SPEC_TEXT_LISTS:
            spec.setdefault(_SPEC_TEXT_LISTS[number], []).append(_text(value))
        elif number in _SPEC_NUMBERS:
            spec[_SPEC_NUMBERS[number]] = _int32(value)
        elif number in _SPEC_FLAGS:
            spec[_SPEC_FLAGS[number]] = bool(value)
        elif number in _SPEC_POINTER_FLAGS:
            spec[_SPEC_POINTER_FLAGS[number]] = bool(value)
        elif number == 14 and isinstance(value, bytes):
            spec["sessionAffinityConfig"] = _session_affinity(value)
    pointers = set(_SPEC_POINTER_FLAGS.values())
    return {k: v for k, v in spec.items() if k in pointers or v not in ("", 0, False)}


def _session_affinity(data: bytes) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for number, value in fields(data):
        if number == 1 and isinstance(value, bytes):
            client_ip: dict[str, Any] = {}
            for inner, seconds in fields(value):
                if inner == 1:
                    client_ip["timeoutSeconds"] = _int32(seconds)
            config["clientIP"] = client_ip
    return config


def _service(data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Service"}
    for number, value in fields(data):
        if number == 1 and isinstance(value, bytes):
            obj["metadata"] = object_meta(value)
        elif number == 2 and isinstance(value, bytes):
            obj["spec"] = _service_spec(value)
        # 3, status: written by the server, never by a client's create
    return obj


_DECODERS = {
    ("v1", "Secret"): _secret,
    ("v1", "Namespace"): _namespace,
    ("v1", "Service"): _service,
}


def decode(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded Secret, Namespace or Service; else Undecodable."""
    if not body.startswith(MAGIC):
        raise Undecodable("missing the k8s protobuf envelope")
    api_version = kind = ""
    raw = b""
    for number, value in fields(body[len(MAGIC) :]):
        if number == 1 and isinstance(value, bytes):
            for part_number, part in fields(value):
                if part_number == 1:
                    api_version = _text(part)
                elif part_number == 2:
                    kind = _text(part)
        elif number == 2 and isinstance(value, bytes):
            raw = value
        elif number == 3 and value:
            raise Undecodable(f"content encoding {value!r} is not supported")
    decoder = _DECODERS.get((api_version, kind))
    if decoder is None:
        raise Undecodable(f"{api_version}/{kind} is not readable as protobuf here")
    return decoder(raw)
