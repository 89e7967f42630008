"""/openapi.json and /docs: the contract, for machines and for people.

/docs is one self-contained HTML page rendered from the same OpenAPI document (no CDN, no
script), so it works offline and can never disagree with /openapi.json. The introduction is
Markdown rendered with raw HTML disabled; every other text taken from the document is
HTML-escaped.
"""

from __future__ import annotations

import functools
import html
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from services.api import openapi

METHODS = ("get", "post", "put", "patch", "delete")
STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{margin-bottom:0}h2{border-bottom:1px solid #ccc;margin-top:2.5rem}
.op{border:1px solid #ddd;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}
.m{display:inline-block;min-width:4.5rem;font-weight:bold;text-transform:uppercase}
.get{color:#0a6}.post{color:#06c}.patch{color:#a60}.delete{color:#c33}
code{background:#f4f4f4;padding:0 .2rem}table{border-collapse:collapse;margin:.5rem 0}
td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left;vertical-align:top}
pre{background:#f4f4f4;padding:.5rem;white-space:pre-wrap}
.intro pre{white-space:pre;overflow-x:auto}
"""


@functools.cache
def openapi_bytes() -> bytes:
    return json.dumps(openapi.document(), separators=(",", ":")).encode()


async def openapi_json(request: Request) -> Response:
    return Response(openapi_bytes(), media_type="application/json")


async def docs_page(request: Request) -> Response:
    return HTMLResponse(render(openapi.document()))


def _e(text: object) -> str:
    return html.escape(str(text))


def _resolve(doc: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    ref = item.get("$ref")
    if not isinstance(ref, str):
        return item
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return dict(node)


def _type(schema: dict[str, Any]) -> str:
    """A short human label of a schema: a link for a $ref, the type(s) otherwise."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f'<a href="#schema-{_e(name)}">{_e(name)}</a>'
    if "oneOf" in schema:
        return " | ".join(_type(option) for option in schema["oneOf"])
    if "allOf" in schema:
        return " & ".join(_type(option) for option in schema["allOf"])
    kind = schema.get("type", "any")
    label = _e(" | ".join(kind) if isinstance(kind, list) else kind)
    if kind == "array" and "items" in schema:
        label = f"array of {_type(schema['items'])}"
    if "enum" in schema:
        label += " (" + ", ".join(f"<code>{_e(v)}</code>" for v in schema["enum"]) + ")"
    return label


def _schema_table(schema: dict[str, Any]) -> str:
    properties = schema.get("properties") or {}
    if not properties:
        return f"<p>{_type(schema)}</p>"
    required = set(schema.get("required") or ())
    rows = "".join(
        f"<tr><td><code>{_e(name)}</code>{' *' if name in required else ''}</td>"
        f"<td>{_type(prop)}</td><td>{_e(prop.get('description', ''))}</td></tr>"
        for name, prop in properties.items()
    )
    return f"<table><tr><th>field</th><th>type</th><th>notes</th></tr>{rows}</table>"


def _operation(doc: dict[str, Any], path: str, method: str, op: dict[str, Any]) -> str:
    parts = [
        f'<div class="op" id="{_e(op["operationId"])}">',
        f'<p><span class="m {method}">{method}</span> <code>{_e(path)}</code> — '
        f"{_e(op.get('summary', ''))}</p>",
    ]
    if op.get("description"):
        parts.append(f"<p>{_e(op['description'])}</p>")
    if op.get("security") == []:
        parts.append("<p><em>No API key needed.</em></p>")
    declared = op.get("_path_parameters", []) + op.get("parameters", [])
    parameters = [_resolve(doc, p) for p in declared]
    if parameters:
        rows = "".join(
            f"<tr><td><code>{_e(p['name'])}</code></td><td>{_e(p['in'])}</td>"
            f"<td>{_type(p.get('schema', {}))}</td><td>{_e(p.get('description', ''))}</td></tr>"
            for p in parameters
        )
        parts.append(
            "<table><tr><th>parameter</th><th>in</th><th>type</th><th>notes</th></tr>"
            f"{rows}</table>"
        )
    body = op.get("requestBody")
    if body:
        media, content = next(iter(body["content"].items()))
        parts.append(f"<p>Body (<code>{_e(media)}</code>): {_type(content['schema'])}</p>")
        parts.append(_example(body["content"]))
    rows = ""
    for status, answer in op["responses"].items():
        schemas = [_type(c["schema"]) for c in (answer.get("content") or {}).values()]
        rows += (
            f"<tr><td>{_e(status)}</td><td>{_e(answer['description'])}</td>"
            f"<td>{', '.join(schemas)}</td></tr>"
        )
    parts.append(f"<table><tr><th>status</th><th>meaning</th><th>body</th></tr>{rows}</table>")
    success: dict[str, Any] = next(
        (a for status, a in op["responses"].items() if status.startswith("2")), {"content": {}}
    )
    example = _example(success.get("content") or {})
    if example:
        parts.append(f"<details><summary>Example answer</summary>{example}</details>")
    parts.append("</div>")
    return "".join(parts)


def markdown(text: str) -> str:
    """CommonMark to HTML with raw HTML disabled: any markup in the text is escaped."""
    from markdown_it import MarkdownIt  # only /docs needs it

    rendered: str = MarkdownIt("commonmark", {"html": False}).render(text)
    return rendered


def _example(content: dict[str, Any]) -> str:
    for described in content.values():
        for example in (described.get("examples") or {}).values():
            return f"<pre>{_e(json.dumps(example['value'], indent=2))}</pre>"
    return ""


def render(doc: dict[str, Any]) -> str:
    info = doc["info"]
    sections = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{_e(info['title'])} API</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(info['title'])} API {_e(info['version'])}</h1>",
        f"<p>{_e(info.get('summary', ''))}. Machine-readable: "
        '<a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>',
        f'<div class="intro">{markdown(info.get("description", ""))}</div>',
    ]
    for tag in doc.get("tags", []):
        sections.append(f"<h2>{_e(tag['name'])}</h2><p>{_e(tag.get('description', ''))}</p>")
        for path, item in doc["paths"].items():
            for method in METHODS:
                op = item.get(method)
                if op is None or tag["name"] not in op.get("tags", ()):
                    continue
                op = {**op, "_path_parameters": item.get("parameters", [])}
                sections.append(_operation(doc, path, method, op))
    sections.append("<h2>Schemas</h2>")
    for name, schema in doc["components"]["schemas"].items():
        sections.append(f'<h3 id="schema-{_e(name)}">{_e(name)}</h3>')
        if schema.get("description"):
            sections.append(f"<p>{_e(schema['description'])}</p>")
        sections.append(_schema_table(schema))
    sections.append("</body></html>")
    return "".join(sections)
