"""The OpenAPI document is valid OpenAPI 3.1 and describes exactly the app's routes."""

from __future__ import annotations

import inspect

from openapi_spec_validator import validate
from openapi_spec_validator.versions import consts, shortcuts

from services.api import documentation, openapi, problems
from services.api.app import routes
from services.control import errors as control_errors

METHODS = {"get", "post", "put", "patch", "delete"}


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = openapi.document()
    assert shortcuts.get_spec_version(doc) == consts.OPENAPIV31
    validate(doc)  # raises on any violation


def test_every_route_of_the_app_is_documented_and_nothing_else() -> None:
    served = {
        (route.path, method.lower())
        for route in routes()
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {
        (path, method)
        for path, item in openapi.document()["paths"].items()
        for method in item
        if method in METHODS
    }
    assert documented == served


def test_every_v1_operation_needs_the_bearer_key_and_the_rest_does_not() -> None:
    doc = openapi.document()
    assert doc["security"] == [{"bearer": []}]
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "an API key from `dbaas keys create`",
    }
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            public = operation.get("security") == []
            assert public == (not path.startswith("/v1")), (method, path)
            if not public:
                assert "401" in operation["responses"], (method, path)


def test_mutations_document_202_and_their_problem_answers() -> None:
    paths = openapi.document()["paths"]
    for path, method in [
        ("/v1/databases", "post"),
        ("/v1/databases/{id}", "patch"),
        ("/v1/databases/{id}", "delete"),
        ("/v1/databases/{id}/restart", "post"),
    ]:
        responses = paths[path][method]["responses"]
        assert "202" in responses
        for status in ("401", "403", "404" if "{id}" in path else "409", "503"):
            assert "application/problem+json" in responses[status]["content"]


def test_every_control_error_type_is_a_documented_problem_type() -> None:
    subclasses = [
        cls
        for _, cls in inspect.getmembers(control_errors, inspect.isclass)
        if issubclass(cls, control_errors.ControlError)
    ]
    assert len(subclasses) > 5
    for cls in subclasses:
        assert cls.type in problems.TYPES, cls
        assert problems.TYPES[cls.type][0] == cls.status, cls


def test_the_problem_schema_lists_every_problem_type_and_accepts_new_ones() -> None:
    schema = openapi.document()["components"]["schemas"]["Problem"]
    known = schema["properties"]["type"]["examples"]
    assert known == [problems.TYPE_BASE + slug for slug in problems.TYPES]
    for slug in problems.TYPES:
        assert f"`{slug}`" in schema["properties"]["type"]["description"]
    # Open: a type added later must not break a client generated from today's document.
    assert "enum" not in schema["properties"]["type"]
    assert schema["properties"]["type"]["type"] == "string"


def test_the_docs_page_is_self_contained_and_covers_every_operation() -> None:
    doc = openapi.document()
    page = documentation.render(doc)
    assert page.startswith("<!doctype html>")
    for forbidden in ("<script", "src=", "<link", "@import", "cdn"):
        assert forbidden not in page.lower()
    for item in doc["paths"].values():
        for method in METHODS & set(item):
            assert f'id="{item[method]["operationId"]}"' in page
    for name in doc["components"]["schemas"]:
        assert f'id="schema-{name}"' in page


def test_the_docs_page_escapes_what_it_shows() -> None:
    doc = openapi.document()
    hostile = {
        **doc,
        "info": {**doc["info"], "summary": "<img onerror=x>", "description": "<b>&"},
    }
    page = documentation.render(hostile)
    assert "<img" not in page
    assert "&lt;img onerror=x&gt;" in page
    assert "&lt;b&gt;&amp;" in page


def test_every_json_body_of_every_operation_has_an_example_valid_against_its_schema() -> None:
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    doc = openapi.document()
    registry: Registry = Registry().with_resource(
        "urn:doc", Resource.from_contents(doc, default_specification=DRAFT202012)
    )
    checked = 0
    for path, item in doc["paths"].items():
        for method in METHODS & set(item):
            operation = item[method]
            bodies = [("request", operation.get("requestBody", {}).get("content", {}))]
            bodies += [(s, a.get("content", {})) for s, a in operation["responses"].items()]
            for where, content in bodies:
                for media, described in content.items():
                    if not media.endswith("json") or path == "/openapi.json":
                        continue
                    examples = described.get("examples")
                    assert examples, f"{method} {path} {where} {media}: no example"
                    schema = {
                        "$ref": "urn:doc#/components/schemas/"
                        + described["schema"]["$ref"].rsplit("/", 1)[1]
                    }
                    validator = jsonschema.Draft202012Validator(
                        schema,
                        registry=registry,
                        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
                    )
                    for example in examples.values():
                        errors = [e.message for e in validator.iter_errors(example["value"])]
                        assert not errors, f"{method} {path} {where}: {errors}"
                        checked += 1
    assert checked > 60


def test_the_docs_page_renders_its_introduction_as_html_with_a_first_session() -> None:
    page = documentation.render(openapi.document())
    intro = page[page.index('<div class="intro">') : page.index("</div>")]
    assert "<h2>A first session</h2>" in intro
    assert "## " not in intro and "```" not in intro  # no raw Markdown left
    assert '<pre><code class="language-sh">export DBAAS_API_KEY=$(cat .dbaas/dev-api-key)' in intro
    assert "<code>status.observed_generation &gt;= generation</code>" in intro
    assert "<details><summary>Example answer</summary><pre>" in page


def test_every_handler_of_the_route_table_is_described_once_and_nothing_else() -> None:
    handlers = set()
    for route in routes():
        table = getattr(route.endpoint, "handlers", {"": route.endpoint})
        handlers |= {handler.__name__ for handler in table.values()}
    assert handlers == set(openapi.DESCRIBED)
    ids = [
        operation["operationId"]
        for item in openapi.document()["paths"].values()
        for method, operation in item.items()
        if method in METHODS
    ]
    assert len(ids) == len(set(ids)) == len(handlers)


def test_error_answers_follow_from_what_an_endpoint_does() -> None:
    paths = openapi.document()["paths"]
    create = paths["/v1/databases"]["post"]["responses"]
    # 404: a restore's backup or source database is not in the project
    assert sorted(create) == ["202", "400", "401", "403", "404", "409", "413", "415", "422", "503"]
    assert create["422"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/UnprocessableProblem"
    }
    patch = paths["/v1/databases/{id}"]["patch"]
    assert "412" in patch["responses"] and "404" in patch["responses"]
    assert list(patch["requestBody"]["content"]) == [
        "application/json",
        "application/merge-patch+json",
    ]
    assert sorted(paths["/v1/operations/{id}"]["get"]["responses"]) == ["200", "401", "404", "503"]
    assert sorted(paths["/healthz"]["get"]["responses"]) == ["200"]
