"""JSON on the wire: orjson for speed, pydantic for the strict checks, one size limit.

``decode`` turns every way a payload can be wrong into a ``PayloadError`` whose
``reason`` names it, so callers count refusals by reason and never see a library error.
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

from edgewatch.shared.errors import PayloadError

DEFAULT_MAX_BYTES = 2 * 1024 * 1024
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

# pydantic error types -> our counter reasons. Anything unlisted counts as "schema".
_REASONS = {
    "finite_number": "non_finite",
    "missing": "missing_field",
    "extra_forbidden": "extra_field",
    "float_type": "wrong_type",
    "int_type": "wrong_type",
    "bool_type": "wrong_type",
    "string_type": "wrong_type",
    "list_type": "wrong_type",
    "dict_type": "wrong_type",
    "model_type": "wrong_type",
    "literal_error": "bad_value",
    "string_pattern_mismatch": "bad_value",
    "string_too_long": "too_large",
    "too_long": "too_large",
    "greater_than_equal": "out_of_range",
    "less_than_equal": "out_of_range",
    "greater_than": "out_of_range",
    "less_than": "out_of_range",
    "json_invalid": "json",
    "recursion_loop": "json",
    # A discriminated union on schema_version: a version we do not speak, or none at all.
    "union_tag_invalid": "bad_version",
    "union_tag_not_found": "missing_field",
}


def encode(model: BaseModel) -> bytes:
    """Serialise a wire model (``None`` fields kept, so columns stay aligned)."""
    return orjson.dumps(model.model_dump(mode="python"))


def encode_obj(obj: Any) -> bytes:
    """Serialise plain data; refuses NaN by turning it into ``null`` (orjson's rule)."""
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)


def reason_of(exc: ValidationError) -> str:
    """The counter reason of the first error pydantic found."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    if not errors:
        return "schema"
    kind = errors[0]["type"]
    if kind == "value_error":
        msg = str(errors[0].get("msg", ""))
        if "shape" in msg:
            return "shape"
    if kind in ("greater_than_equal", "less_than_equal") and _is_ts_error(errors[0]):
        return "ts_range"
    return _REASONS.get(kind, "schema")


def _is_ts_error(err: Any) -> bool:
    # Through a versioned union the location starts with the version tag: (2, "ts", 0).
    loc = [p for p in err.get("loc", ()) if not isinstance(p, int)]
    return bool(loc) and loc[0] == "ts"


def _precheck(payload: bytes, max_bytes: int) -> None:
    if len(payload) > max_bytes:
        raise PayloadError("too_large", f"{len(payload)} bytes > {max_bytes}")
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError("utf8", str(exc)[:200]) from exc


def decode(payload: bytes, model: type[M], *, max_bytes: int = DEFAULT_MAX_BYTES) -> M:
    """Parse and validate ``payload`` as ``model`` or raise ``PayloadError(reason)``."""
    _precheck(payload, max_bytes)
    try:
        return model.model_validate_json(payload)
    except ValidationError as exc:
        raise PayloadError(reason_of(exc), _summary(exc)) from exc
    except (ValueError, RecursionError) as exc:
        raise PayloadError("json", str(exc)[:200]) from exc


def decode_as(payload: bytes, adapter: TypeAdapter[T], *, max_bytes: int = DEFAULT_MAX_BYTES) -> T:
    """``decode`` for a type that is not one model, e.g. a union of schema versions."""
    _precheck(payload, max_bytes)
    try:
        return adapter.validate_json(payload)
    except ValidationError as exc:
        raise PayloadError(reason_of(exc), _summary(exc)) from exc
    except (ValueError, RecursionError) as exc:
        raise PayloadError("json", str(exc)[:200]) from exc


def _summary(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    loc = ".".join(str(p) for p in first.get("loc", ()))
    return f"{exc.error_count()} error(s); first at {loc or '<root>'}: {first.get('msg', '')}"[:300]
