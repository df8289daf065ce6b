"""HTTP entrypoints: one decorator validates the request against a contract, calls
the handler, maps errors to statuses (the only error mapping), and records what the
OpenAPI document needs. A rejected request never reaches the application."""

from __future__ import annotations

import functools
import json
import logging
import re
import traceback
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from nameko.web.handlers import http
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from werkzeug.wrappers import Request, Response

from contracts.api import Error, FieldError
from contracts.envelope import Actor
from servicekit import auth
from servicekit.application import occurring_at
from servicekit.errors import Forbidden, InvalidCommand, NotFound, StateConflict

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 16
AUTHORIZATION_HEADER = "Authorization"
CORRELATION_HEADER = "X-Correlation-Id"


class Call:
    """What a handler gets besides the path parameters. `actor` is the token's subject
    in the role that allowed the action (None only on the public endpoints)."""

    def __init__(self, request: Request, actor: Actor | None, body: Any, query: Any,
                 principal: auth.Principal | None = None):
        self.request = request
        self.actor = actor
        self.principal = principal
        self.body = body
        self.query = query
        self.correlation_id = _correlation_id(request)


_CORRELATION_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,100}")


def _correlation_id(request: Request) -> str:
    """The caller's X-Correlation-Id (it is stored with every event and published), or
    a new one."""
    value = request.headers.get(CORRELATION_HEADER)
    if value is None:
        return str(uuid.uuid4())
    if not _CORRELATION_ID.fullmatch(value):
        raise InvalidCommand(f"header.{CORRELATION_HEADER}", "1 to 100 characters: "
                             "letters, digits and . _ : / + = -")
    return value


def json_response(data: Any, status: int = 200) -> Response:
    if isinstance(data, BaseModel):
        text = data.model_dump_json()
    else:
        text = json.dumps(data, default=str, ensure_ascii=False)
    return Response(text, status=status, mimetype="application/json")


def error_response(status: int, error: str, message: str, **extra: Any) -> Response:
    body = Error(error=error, message=message, **extra).model_dump_json(exclude_none=True)
    return Response(body, status=status, mimetype="application/json")


def _field_errors(exc: ValidationError, prefix: str) -> list[FieldError]:
    # Never echo the input: it may be personal data.
    return [
        FieldError(
            field=".".join([prefix, *(str(p) for p in e["loc"])]).strip("."),
            problem=e["msg"],
        )
        for e in exc.errors(include_input=False, include_url=False)
    ]


def _identify(service: Any, fn: Callable[..., Any], request: Request
              ) -> tuple[auth.Principal, Actor]:
    """Authentication (401) and the permission table (403): the one place for HTTP."""
    principal = auth.authenticate(request.headers.get(AUTHORIZATION_HEADER))
    return principal, auth.permissions().authorize(
        principal, auth.action_of(service.name, fn.__name__))


def _body(request: Request, model: type[BaseModel]) -> BaseModel:
    """The body as `model`: at most MAX_BODY_BYTES (a declared Content-Length above it is
    refused before anything is read), UTF-8 JSON, an object nested at most MAX_JSON_DEPTH
    deep, no duplicate keys, no NaN/Infinity, no lone surrogates; then validated strictly
    (no "4" for 4 or "yes" for true; the contract's own validators clean every text)."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise InvalidCommand("body", f"larger than {MAX_BODY_BYTES} bytes")
    if request.content_length is None and "chunked" in request.headers.get(
            "Transfer-Encoding", "").lower():  # the server would hand over an empty body
        raise InvalidCommand("body", "send the body with a Content-Length (not chunked)")
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidCommand("body", f"larger than {MAX_BODY_BYTES} bytes")
    try:
        text = raw.decode("utf-8") if raw.strip() else "{}"
    except UnicodeDecodeError as exc:
        raise InvalidCommand("body", f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except RecursionError:
        raise InvalidCommand("body", f"JSON nested deeper than {MAX_JSON_DEPTH}") from None
    except ValueError as exc:
        raise InvalidCommand("body", f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidCommand("body", "must be a JSON object")
    _scan(data)
    return model.model_validate_json(text, strict=True)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise InvalidCommand("body", f"the key {json.dumps(key)} appears more than once")
        data[key] = value
    return data


def _no_constant(name: str) -> Any:
    raise InvalidCommand("body", f"{name} is not a JSON number")


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _scan(data: Any) -> None:
    """Refuses JSON nested deeper than MAX_JSON_DEPTH and lone surrogates (JSON's
    "\\ud800" escape is not Unicode text), naming where."""
    stack: list[tuple[Any, int, str]] = [(data, 1, "body")]
    while stack:
        node, depth, where = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise InvalidCommand("body", f"JSON nested deeper than {MAX_JSON_DEPTH}")
        if isinstance(node, dict):
            for key, value in node.items():
                if _LONE_SURROGATE.search(key):
                    raise InvalidCommand(where, "a key contains a lone surrogate; keys and "
                                                "texts must be valid Unicode")
                stack.append((value, depth + 1, f"{where}.{key}"))
        elif isinstance(node, list):
            stack.extend((v, depth + 1, f"{where}.{i}") for i, v in enumerate(node))
        elif isinstance(node, str) and (bad := _LONE_SURROGATE.search(node)):
            raise InvalidCommand(where, f"contains the lone surrogate U+{ord(bad.group()):04X}"
                                        "; texts must be valid Unicode")


def _query(request: Request, model: type[BaseModel] | None) -> BaseModel | None:
    """The query string as `model` (each parameter at most once; unknown ones are refused
    by the model); an endpoint without a query model takes no parameters."""
    for name in request.args:
        if model is None:
            raise InvalidCommand(f"query.{name}", "this endpoint takes no query parameters")
        if len(request.args.getlist(name)) > 1:
            raise InvalidCommand(f"query.{name}", "given more than once")
    return None if model is None else model.model_validate(request.args.to_dict())


OCCURRED_AT_HEADER = "X-Occurred-At"


def _occurred_at(request: Request, actor: Actor | None) -> datetime | None:
    """An import of historical records: an admin's X-Occurred-At (ISO 8601 with an offset,
    not in the future) is the time of every event the request records."""
    value = request.headers.get(OCCURRED_AT_HEADER)
    if value is None:
        return None
    if actor is None or actor.role != "admin":
        raise Forbidden(f"record events at a past time ({OCCURRED_AT_HEADER})", ["admin"])
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidCommand(f"header.{OCCURRED_AT_HEADER}", "not an ISO 8601 date-time, "
                             "e.g. 2013-08-30T00:00:00+00:00") from None
    if at.tzinfo is None:
        raise InvalidCommand(f"header.{OCCURRED_AT_HEADER}", "needs a UTC offset, e.g. +00:00")
    if at > datetime.now(UTC):
        raise InvalidCommand(f"header.{OCCURRED_AT_HEADER}", "is in the future")
    if at.year < 1900:
        raise InvalidCommand(f"header.{OCCURRED_AT_HEADER}", "is before 1900")
    return at.astimezone(UTC)


def _handle(fn: Callable[..., Any], spec: dict[str, Any], service: Any, request: Request,
            path_params: dict[str, str]) -> Response:
    try:
        principal, actor = (None, None) if spec["public"] else _identify(service, fn, request)
        for name, value in path_params.items():
            if name.endswith("_id"):
                try:
                    path_params[name] = uuid.UUID(value)
                except ValueError:
                    raise NotFound(name.removesuffix("_id"), value) from None
        scope = getattr(service, "check_scope", None)
        if principal is not None and scope is not None:
            # the service's row-level rule (whose case is it), after the table allowed
            scope(principal, actor, fn.__name__, path_params)
        body = None
        if spec["body"] is not None:
            try:
                body = _body(request, spec["body"])
            except ValidationError as exc:
                return error_response(422, "invalid", "the request body is invalid",
                                      fields=_field_errors(exc, "body"))
        try:
            query = _query(request, spec["query"])
        except ValidationError as exc:
            return error_response(422, "invalid", "the query is invalid",
                                  fields=_field_errors(exc, "query"))
        with occurring_at(_occurred_at(request, actor)):
            result = fn(service, Call(request, actor, body, query, principal), **path_params)
        if spec["method"] != "GET" and hasattr(service, "runtime"):
            service.runtime.wake()
        if isinstance(result, Response):  # a non-JSON media type (see `media_type`)
            return result
        return json_response(result, spec["status"])
    except auth.Unauthenticated as exc:
        response = error_response(401, "unauthenticated", str(exc), reason=exc.reason)
        response.headers["WWW-Authenticate"] = f'Bearer error="invalid_token", ' \
            f'error_description="{exc.reason}"'
        return response
    except InvalidCommand as exc:
        return error_response(422, "invalid", str(exc),
                              fields=[FieldError(field=exc.field, problem=exc.problem)])
    except Forbidden as exc:
        return error_response(403, "forbidden", str(exc))
    except NotFound as exc:
        return error_response(404, "not_found", str(exc))
    except StateConflict as exc:
        return error_response(409, "conflict", str(exc), state=exc.state,
                              allowed_actions=exc.allowed)
    except Exception as exc:
        # The request was validated above; a pydantic error from here on is the server's
        # (a stored record that no longer fits its contract), so it is a 500, not a 422.
        # The type and the frames only: an exception's message may quote input values,
        # and personal data never goes to the logs.
        log.error("unhandled %s in %s\n%s", type(exc).__name__, fn.__name__,
                  "".join(traceback.format_tb(exc.__traceback__)))
        return error_response(500, "internal", "internal error; it has been logged")


def endpoint(
    method: str,
    path: str,
    *,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    summary: str = "",
    media_type: str = "application/json",
    public: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`media_type` other than JSON: the handler returns a werkzeug Response of that type
    (errors stay JSON), and the OpenAPI document says so. `public=True` only for /health
    and /openapi.json: every other endpoint needs a bearer token whose role the
    permission table (servicekit.auth) allows `<service>.<handler name>`."""
    spec = {"method": method, "path": path, "body": body, "query": query,
            "response": response, "status": status, "summary": summary,
            "media_type": media_type, "public": public}

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def handler(self: Any, request: Request, **path_params: str) -> Response:
            return _handle(fn, spec, self, request, path_params)

        spec["handler"] = fn.__name__
        handler.endpoint_spec = spec  # type: ignore[attr-defined]
        return http(method, path)(handler)

    return decorate


# --- OpenAPI -----------------------------------------------------------------

_PARAM = re.compile(r"<(?:[a-z]+:)?([a-zA-Z_]+)>")
_ERRORS = {"401": "the bearer token is missing, malformed, expired, wrongly signed or "
                  "names an unknown role", "403": "the role may not do this",
           "404": "unknown id",
           "409": "the state forbids the action", "422": "invalid input"}
_SECURITY = {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                            "description": "HS256 token with sub, roles, exp (and team); "
                                           "python -m servicekit.tokens issues one"}}


def openapi_document(service_cls: type, title: str, version: str = "1") -> dict[str, Any]:
    specs = [member.endpoint_spec for member in vars_all(service_cls)]
    models = {Error}
    for spec in specs:
        models.update(m for m in (spec["body"], spec["response"], spec["query"])
                      if m is not None)
    _, defs = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, dict[str, Any]] = {}
    for spec in specs:
        names = _PARAM.findall(spec["path"])
        params = [{"name": n, "in": "path", "required": True,
                   "schema": {"type": "string", "format": "uuid"} if n.endswith("_id")
                   else {"type": "string"}} for n in names]
        if spec["query"] is not None:
            qschema = defs["$defs"][spec["query"].__name__]
            for name, prop in qschema.get("properties", {}).items():
                params.append({"name": name, "in": "query",
                               "required": name in qschema.get("required", ()),
                               "schema": _query_schema(prop)})
        params.append({"name": CORRELATION_HEADER, "in": "header", "required": False,
                       "description": "ties the events this request records together",
                       "schema": {"type": "string",
                                  "pattern": f"^{_CORRELATION_ID.pattern}$"}})
        errors = {code: text for code, text in _ERRORS.items()
                  if not spec["public"] or code not in ("401", "403")}
        if not names and spec["method"] == "GET":  # lists and reports: nothing to be unknown
            errors.pop("404")
        if spec["method"] == "GET":  # reads never conflict with a state
            errors.pop("409")
        operation: dict[str, Any] = {
            "operationId": spec["summary"] or spec["path"],
            "summary": spec["summary"],
            "x-action": auth.action_of(service_cls.name, spec["handler"]),  # type: ignore[attr-defined]
            "security": [] if spec["public"] else [{"bearerAuth": []}],
            "parameters": params,
            "responses": {
                str(spec["status"]): {
                    "description": "success",
                    "content": {"application/json": {"schema": {"$ref":
                        f"#/components/schemas/{spec['response'].__name__}"}}}
                    if spec["response"] else
                    {spec["media_type"]: {"schema": {"type": "string"}}}
                    if spec["media_type"] != "application/json" else {},
                },
                **{code: {"description": text, "content": {"application/json": {
                    "schema": _error_schema(code)}}}
                   for code, text in errors.items()},
            },
        }
        if spec["body"] is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{spec['body'].__name__}"}}}}
        paths.setdefault(_PARAM.sub(r"{\1}", spec["path"]), {})[spec["method"].lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": defs.get("$defs", {}), "securitySchemes": _SECURITY},
    }


def _query_schema(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema: an absent parameter is how a query says "none", so
    the `null` alternative of an optional field is dropped (and the title, default)."""
    prop = {k: v for k, v in prop.items() if k not in ("title", "default")}
    options = [o for o in prop.pop("anyOf", []) if o != {"type": "null"}]
    if len(options) == 1:
        return {**prop, **options[0]}
    return {**prop, "anyOf": options} if options else prop


# What each error body carries beyond the Error model's required `error` and `message`.
_ERROR_DETAIL: dict[str, dict[str, Any]] = {
    "404": {"properties": {"error": {"const": "not_found"}}},
    "409": {"properties": {"error": {"const": "conflict"},
                           "allowed_actions": {"type": "array", "items": {"type": "string"}}},
            "required": ["state", "allowed_actions"]},
    "422": {"properties": {"error": {"const": "invalid"},
                           "fields": {"type": "array", "minItems": 1}},
            "required": ["fields"]},
}


def _error_schema(code: str) -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/Error"}
    return {"allOf": [ref, _ERROR_DETAIL[code]]} if code in _ERROR_DETAIL else ref


def vars_all(cls: type) -> list[Any]:
    seen: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for name, member in vars(klass).items():
            if hasattr(member, "endpoint_spec"):
                seen[name] = member
    return list(seen.values())
