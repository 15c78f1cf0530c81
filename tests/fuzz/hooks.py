"""schemathesis hooks for roundwared (loaded by tests/fuzz/schemathesis.sh).

`before_call` keeps the fuzzed daemon on loopback: a speaker's `uri` is a live source the
daemon connects to, so every http(s) URL a speaker request carries is pointed at
127.0.0.1:9 (nothing listens there) before it is sent; the rest of the URL is kept.

Two of schemathesis' data checks are refined by what decisions.md documents; everything else
they report still fails the run:

* `lenient_negative_data_rejection` is `negative_data_rejection`, except that a schema-violating
  request the server accepted is fine when the server's documented leniency explains it: the
  request, read the way the server reads it (numbers as strings, text from numbers, booleans
  as 0/1/yes/no, id lists as "1,2" or a single id, blank and null as "not sent"), is valid
  against the schema. `{"name": false}`, a null in a required field, a number out of range or
  an unknown choice are still failures.
* `known_positive_data_acceptance` is `positive_data_acceptance`, except that a schema-valid
  request may name an object that does not exist (the schema cannot know which ids exist), which
  the server answers 400 naming the missing object, as DRF does, or break a rule across fields or
  stored state (NOT_IN_A_SCHEMA); and uploads (the schema cannot say "a valid recording") and
  login (a fuzzer cannot guess the password) are not held to it.

Both take a 413 that names one of the multipart form's caps (64 parts, 4 files, 64 KiB per text
field, 256 KiB of text in all; src/api/multipart.rs) as the refusal it is: the document
describes each body in its canonical JSON form, and a long id list or text that is fine as JSON
can exceed what a form may carry.
"""

import json
import re
from urllib.parse import parse_qsl, urlsplit

import jsonschema_rs  # schemathesis' own validator
import schemathesis
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

# Operations whose schema-valid requests are refused for reasons a schema cannot state.
NOT_HELD_TO_POSITIVE = [
    # random bytes are not a recording: 400 "not audio"
    (re.compile(r"^/api/2/(assets|envelopes/\{id\})/$"), {"POST", "PATCH"}),
    # wrong credentials: 400 non_field_errors, as DRF's obtain_auth_token answers
    (re.compile(r"^/api/2/login/$"), {"POST"}),
    # a filter clause's value depends on its operator (an integer for lt, a list for one_of),
    # its pointer's escapes and `$variables` on more than a pattern can say
    (re.compile(r"^/stream/0/filters(/\{id\})?$"), {"POST", "PUT"}),
    # random bytes are not an image: 400 "not a PNG, JPEG or WebP image"
    (re.compile(r"^/api/2/projects/\{id\}/floorplan/$"), {"PUT"}),
]

# What a schema cannot state, as the server words it in a 400: an object the request names
# that does not exist (DRF's answer), and the rules across fields or stored state: unique
# codes and names, nothing deleted while in use, the default language kept, no cycles, min not
# above max, end after start, a stream in its session's project and only where listening is
# enabled, replay only where the project has one audiotrack, a point for an active group's
# chooser (an inactive one answers without), a latitude within 90 (OpenAPI 3.0 cannot bound
# the two members of a position differently), at most MAX_POSITIONS positions in a shape.
NOT_IN_A_SCHEMA = re.compile(
    r"not found|does not exist|is not one of the available choices|no (stream available|\w+ found)"
    r"|already exists|is still used by|cannot be its own ancestor|must not be greater than"
    r"|must be greater than start|cannot be deleted|is not the project of"
    r"|Both latitude and longitude parameters are required|is not enabled for project"
    r"|is outside longitude/latitude range|positions; at most|only valid for projects with"
    r"|max_streams_per_token|must be below the northern edge|must be west of the eastern edge"
    # broadcast channels: a pull on a push channel; what a URL pattern cannot say of a target
    r"|does not have a pull source|names no host|names no mount point|is not a URL"
    r"|is not a usable URL|is not supported: use|is not a valid HTTP header"
    # clips: what a live buffer holds right now
    r"|is not live|must occur after startTime|ms can be clipped|the available window"
    r"|is kept for clips yet|holds no audio",
    re.IGNORECASE,
)


SPEAKER_PATH = re.compile(r"^/api/2/speakers/")
URL_AUTHORITY = re.compile(r"^(\s*[hH][tT][tT][pP][sS]?://)[^/?#]*")


def on_loopback(value):
    if isinstance(value, str):
        return URL_AUTHORITY.sub(lambda m: m.group(1) + "127.0.0.1:9", value, count=1)
    if isinstance(value, list):
        return [on_loopback(v) for v in value]
    return value


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if SPEAKER_PATH.match(case.operation.path) and isinstance(case.body, dict):
        for key in ("uri", "backupuri"):
            if key in case.body:
                case.body[key] = on_loopback(case.body[key])
    # A broadcast channel's pull source is fetched at once, like a speaker's uri.
    if case.operation.path == "/livepeer/api/stream" and isinstance(case.body, dict):
        pull = case.body.get("pull")
        if isinstance(pull, dict) and "source" in pull:
            pull["source"] = on_loopback(pull["source"])


# A multipart form over one of its caps, as the server words the 413.
FORM_CAP = re.compile(r"parts|files in one form|KiB|text fields", re.IGNORECASE)


def refused_form_cap(response):
    if response.status_code != 413:
        return False
    return bool(FORM_CAP.search(response.content.decode("utf-8", "replace")))


@schemathesis.check
def known_positive_data_acceptance(ctx, response, case):
    if refused_form_cap(response):
        return None
    for path, methods in NOT_HELD_TO_POSITIVE:
        if path.match(case.operation.path) and case.operation.method.upper() in methods:
            return None
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        text = response.content.decode("utf-8", "replace")
        if response.status_code in (400, 422) and NOT_IN_A_SCHEMA.search(text):
            return None
        raise


@schemathesis.check
def lenient_negative_data_rejection(ctx, response, case):
    if refused_form_cap(response):
        return None
    try:
        return negative_data_rejection(ctx, response, case)
    except AcceptedNegativeData:
        if read_as_the_server_reads_it_is_valid(case, response):
            return None
        raise


# -- the server's reading of a request (src/api/input.rs) ----------------------------------

ABSENT = object()  # blank, "undefined" or null: the field counts as not sent
INTEGER = re.compile(r"^[+-]?[0-9]+$")
NUMBER = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")
TRUE = {"true", "1", "yes", "y", "on"}
FALSE = {"false", "0", "no", "n", "off"}


class Invalid(Exception):
    """The server refuses this value."""


def blank(value):
    return value is None or (isinstance(value, str) and value.strip() in ("", "undefined")) or value == []


def read_int(v):
    if isinstance(v, bool):
        raise Invalid
    if isinstance(v, int):
        if -(2**63) <= v < 2**63:
            return v
        raise Invalid
    if isinstance(v, float):
        if v.is_integer() and abs(v) <= 2.0**53:
            return int(v)
        raise Invalid
    if isinstance(v, str) and INTEGER.match(v.strip()):
        return read_int(int(v.strip()))
    raise Invalid


def read_number(v):
    if isinstance(v, bool):
        raise Invalid
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, str) and NUMBER.match(v.strip()):
        f = float(v.strip())
        if f in (float("inf"), float("-inf")):
            raise Invalid
        return f
    raise Invalid


def read_bool(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    if isinstance(v, str):
        s = v.strip().lower()
        if s in TRUE:
            return True
        if s in FALSE:
            return False
    raise Invalid


def read_ids(v):
    out = []
    if isinstance(v, list):
        for item in v:
            out.extend(read_ids(item))
    elif isinstance(v, bool) or isinstance(v, (dict, float)):
        raise Invalid
    elif isinstance(v, int):
        out.append(read_int(v))
    elif isinstance(v, str):
        for part in v.split(","):
            part = part.strip().strip("\"'[] ")
            if part in ("", "undefined", "null"):
                continue
            if not INTEGER.match(part):
                raise Invalid
            out.append(read_int(int(part)))
    elif v is not None:
        raise Invalid
    return list(dict.fromkeys(out))


def read(value, schema, blank_is_absent=False):
    """The value as the server reads it for a field of `schema`, or ABSENT; Invalid if refused.

    `blank_is_absent`: a blank value means "not given" even for text (query parameters).
    """
    kind = schema.get("type")
    if isinstance(value, list) and kind != "array" and all(isinstance(x, str) for x in value):
        if not value:
            return ABSENT  # no values at all
        value = value[-1]  # a repeated form key: the last one counts
    if blank(value) and (blank_is_absent or schema.get("format") == "wkt"):
        return ABSENT  # a blank shape in a form clears it, as null does in JSON
    if value is None:
        return None if schema.get("nullable") else ABSENT
    if kind == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise Invalid
    if kind == "array":
        if value == []:
            return []
        if blank(value):
            return ABSENT
        return read_ids(value)
    if blank(value):
        return ABSENT
    if kind == "integer":
        return read_int(value)
    if kind == "number":
        return read_number(value)
    if kind == "boolean":
        return read_bool(value)
    return value


def strict(schema):
    """OpenAPI 3.0's `nullable` as JSON Schema."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items() if k != "nullable"}
        if schema.get("nullable") and "type" in schema:
            out["type"] = [schema["type"], "null"]
            if "enum" in out:
                out["enum"] = list(out["enum"]) + [None]
        return out
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    return schema


def read_fields(values, properties, blank_is_absent=False):
    out = {}
    for key, value in values.items():
        schema = properties.get(key)
        if schema is None:
            continue  # unknown fields are ignored
        v = read(value, schema, blank_is_absent)
        if v is not ABSENT:
            out[key] = v
    return out


def sent_query(response):
    """The query string as it went out: each key with all its values (what the server reads;
    a fuzzer's objects and arrays reach it only as this text)."""
    out = {}
    for key, value in parse_qsl(urlsplit(response.request.url).query, keep_blank_values=True):
        out.setdefault(key, []).append(value)
    return out


def read_as_the_server_reads_it_is_valid(case, response):
    raw = case.operation.definition.raw
    try:
        query_params = [p for p in raw.get("parameters", []) if p.get("in") == "query"]
        if query_params:
            schemas = {p["name"]: p["schema"] for p in query_params}
            query = read_fields(sent_query(response), schemas, blank_is_absent=True)
            for p in query_params:
                if p["name"] in query:
                    if not valid(query[p["name"]], p["schema"]):
                        return False
                elif p.get("required"):
                    return False
        body_schema = (raw.get("requestBody") or {}).get("content", {}).get(case.media_type or "", {}).get("schema")
        if body_schema is not None and case.body is not None and not isinstance(case.body, (bytes, str)):
            if not isinstance(case.body, dict):
                return False
            sent = case.body
            if case.media_type != "application/json":
                # a form carries no part for an empty list or a None
                sent = {k: v for k, v in sent.items() if v is not None and v != []}
            if case.media_type == "multipart/form-data":
                # an object goes into a multipart part as its JSON text, which the server reads
                # as that text
                sent = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in sent.items()}
            body = read_fields(sent, body_schema.get("properties", {}))
            if not valid(body, body_schema):
                return False
        return True
    except Invalid:
        return False


def valid(value, schema):
    # Formats are not checked: the server reads times more leniently than `date-time` says.
    return jsonschema_rs.Draft4Validator(strict(schema), validate_formats=False).is_valid(value)
