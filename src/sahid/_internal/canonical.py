"""RFC 8785 (JCS) canonical JSON for the subset sahid writes.

Allowed: objects with string keys, arrays, strings (valid Unicode), booleans, null and
integers with |x| <= 2**53 - 1. Floats are refused: JCS number formatting is where
implementations disagree, and evidence records never need them.

For that subset ``json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`` produces exactly the JCS bytes, except that Python sorts keys by
code point and JCS by UTF-16 code unit; the two orders differ only when keys hold
characters above U+FFFF, which takes a slow path.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sahid.errors import InputError, VerificationError

MAX_INT = 2**53 - 1
_NON_BMP = re.compile(rb"[\xf0-\xf4]")  # lead bytes of 4-byte UTF-8 sequences
_encode = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


def _check(value: Any, path: str) -> bool:
    """Validate the subset; True if some key needs UTF-16 ordering."""
    t = type(value)
    if t is str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InputError(f"{path}: text holds a lone surrogate (invalid Unicode)") from None
        return False
    if t is int:
        if -MAX_INT <= value <= MAX_INT:
            return False
        raise InputError(f"{path}: integer {value} is outside ±2**53-1; store it as text")
    if t is bool or value is None:
        return False
    if t is dict:
        slow = False
        for k, v in value.items():
            if type(k) is not str:
                raise InputError(f"{path}: key {k!r} is not text")
            _check(k, f"{path}.{k}")
            if max(k, default="\0") > "\uffff":
                slow = True
            slow = _check(v, f"{path}.{k}") or slow
        return slow
    if t is list or t is tuple:
        slow = False
        for i, v in enumerate(value):
            slow = _check(v, f"{path}[{i}]") or slow
        return slow
    if t is float:
        raise InputError(f"{path}: numbers with a fraction are not allowed; store them as text")
    raise InputError(f"{path}: {t.__name__} cannot be stored as JSON")


def _utf16_key(k: str) -> bytes:
    return k.encode("utf-16-be")


def _slow(value: Any) -> str:
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: _utf16_key(kv[0]))
        return "{" + ",".join(_encode(k) + ":" + _slow(v) for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_slow(v) for v in value) + "]"
    return _encode(value)


def _plain(value: Any) -> bool:
    """Cheap, iterative type check of the whole tree (the hot path of every append)."""
    stack = [value]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        x = pop()
        t = type(x)
        if t is str or t is bool or x is None:
            continue
        if t is dict:
            for k, v in x.items():
                if type(k) is not str:
                    return False
                push(v)
        elif t is list or t is tuple:
            extend(x)
        elif t is int:
            if not -MAX_INT <= x <= MAX_INT:
                return False
        else:
            return False
    return True


def check(value: Any, path: str = "$") -> None:
    """Raise InputError naming the first value outside the allowed subset."""
    if not _plain(value):
        _check(value, path)


def encode_checked(value: Any, path: str = "$") -> bytes:
    """JCS bytes of a tree that already passed :func:`check` (types are not re-walked)."""
    try:
        out = _encode(value).encode("utf-8")
    except UnicodeEncodeError:
        _check(value, path)  # names the lone surrogate
        raise
    # Keys above U+FFFF need UTF-16 ordering; any such character is a 4-byte UTF-8 lead.
    if _NON_BMP.search(out) and _check(value, path):
        return _slow(value).encode("utf-8")
    return out


def canonical_json(obj: Any, path: str = "$") -> bytes:
    """The RFC 8785 bytes of ``obj``; InputError names the first offending path."""
    check(obj, path)
    return encode_checked(obj, path)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key")
    return out


def _no_float(text: str) -> Any:
    raise ValueError(f"number {text} is not an integer")


def parse_canonical(data: bytes) -> Any:
    """Parse bytes that must already be canonical; anything else is tampering."""
    try:
        value = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_float=_no_float,
            parse_constant=_no_float,
        )
        again = canonical_json(value)
    except (ValueError, UnicodeDecodeError, RecursionError, InputError) as exc:
        msg = exc.message if isinstance(exc, InputError) else str(exc)
        raise VerificationError(f"not canonical JSON ({msg})") from None
    if again != data:
        raise VerificationError("JSON is not in canonical (RFC 8785) form")
    return value
