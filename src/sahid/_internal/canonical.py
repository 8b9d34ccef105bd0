"""RFC 8785 (JSON Canonicalization Scheme, JCS) for the JSON subset sahid writes.

Allowed: objects with text keys, arrays (lists or tuples), text (valid Unicode: no lone
surrogates), ``true``/``false``, ``null`` and integers with |x| <= 2**53 - 1 (the
I-JSON range of RFC 7493 §2.2, which RFC 8785 §3.2.2.3 serializes as plain digits).
Floats are refused: number formatting (RFC 8785 §3.2.2.3, ECMAScript
Number.prototype.toString) is where implementations disagree, and records never need
them.

For that subset the C encoder behind ``json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`` already writes the JCS bytes: no whitespace (§3.2.1), strings with
only ``"``, ``\\`` and U+0000..U+001F escaped, using the short forms for \\b \\t \\n \\f
\\r and lowercase ``\\u00xx`` otherwise (§3.2.2.2), UTF-8 output (§3.2.4). The one
difference is key order: JCS sorts by UTF-16 code units (§3.2.3), Python by code
points. They disagree only between a key character above U+FFFF (a surrogate pair,
D800..DFFF) and one in U+E000..U+FFFF, so objects whose keys hold characters above
U+FFFF take a slow path; the tests check both paths against the ``rfc8785`` package.
"""

from __future__ import annotations

import json
import json.encoder
import re
from collections.abc import Callable
from typing import Any

from sahid.errors import InputError, VerificationError

__all__ = ["MAX_INT", "canonical_json", "check", "encode_checked", "parse_canonical"]

MAX_INT = 2**53 - 1
_NoneType = type(None)
_SIMPLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _refuse_default(o: object) -> Any:
    raise TypeError(f"{type(o).__name__} is not JSON")


def _make_encoder() -> Callable[[object], str]:
    """The C encoder built once (``json.dumps`` rebuilds it per call, ~1 µs of overhead).

    ``json.encoder.c_make_encoder`` is undocumented, so it is used only if it agrees
    with the public encoder on a probe; otherwise the public one is used.
    """
    public = json.JSONEncoder(
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has the C accelerator
        return public
    try:
        # (markers, default, encoder, indent, key_sep, item_sep, sort_keys, skipkeys, allow_nan)
        c_encode = make(
            None,
            _refuse_default,
            json.encoder.encode_basestring,
            None,
            ":",
            ",",
            True,
            False,
            False,
        )
    except TypeError:  # pragma: no cover - private API changed shape
        return public

    def fast(obj: object) -> str:
        return "".join(c_encode(obj, 0))

    probe = {"b": [1, '\x00\x1f"\\é\U0001f600', None, True, ()], "a": {"": -5}}
    try:
        same = fast(probe) == public(probe)
    except (TypeError, ValueError):  # pragma: no cover
        same = False
    return fast if same else public


_encode = _make_encoder()


def _ok(obj: Any) -> bool:
    """Cheap validation of the whole tree; the hot path of every ledger append.

    Exact types only (no subclasses: an IntEnum or a float subclass would otherwise slip
    through json's encoder). Recursion is bounded by Python's limit, which also stops
    self-referencing containers.
    """
    t = type(obj)
    if t is dict:
        for k in obj:
            if type(k) is not str:
                return False
        it = obj.values()
    elif t is list or t is tuple:
        it = obj
    elif t is str or t is bool or t is _NoneType:
        return True
    elif t is int:
        return bool(-MAX_INT <= obj <= MAX_INT)
    else:
        return False
    for v in it:
        tv = type(v)
        if tv is str or tv is bool or tv is _NoneType:
            continue
        if tv is int:
            if -MAX_INT <= v <= MAX_INT:
                continue
            return False
        if not _ok(v):
            return False
    return True


def _key_path(path: str, key: str) -> str:
    """``path.key`` for plain keys, ``path["k y"]`` (ASCII-escaped, short) otherwise."""
    if _SIMPLE_KEY.fullmatch(key):
        return f"{path}.{key}"
    shown = key if len(key) <= 40 else key[:40] + "…"
    return f"{path}[{json.dumps(shown)}]"


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _locate(value: Any, path: str) -> None:
    """Raise InputError naming the first value outside the subset (slow; errors only)."""
    t = type(value)
    if t is dict:
        for k, v in value.items():
            if type(k) is not str:
                raise InputError(f"{path}: object key {type(k).__name__} {k!r:.40} is not text")
            here = _key_path(path, k)
            if _has_surrogate(k):
                raise InputError(f"{here}: the key holds a lone surrogate (invalid Unicode)")
            _locate(v, here)
    elif t is list or t is tuple:
        for i, v in enumerate(value):
            _locate(v, f"{path}[{i}]")
    elif t is str:
        if _has_surrogate(value):
            raise InputError(f"{path}: text holds a lone surrogate (invalid Unicode)")
    elif t is int:
        if not -MAX_INT <= value <= MAX_INT:
            raise InputError(f"{path}: integer is outside ±(2**53-1); store it as text")
    elif t is float:
        raise InputError(
            f"{path}: numbers with a fraction or exponent ({value!r:.30}) are not allowed; "
            "store them as text or as an integer"
        )
    elif not (t is bool or t is _NoneType):
        raise InputError(
            f"{path}: a {t.__name__} cannot be stored as JSON "
            "(allowed: object, array, text, integer, true/false, null)"
        )


def _too_deep(path: str) -> InputError:
    return InputError(f"{path}: nested too deeply, or a container holds itself")


def check(value: object, path: str = "$") -> None:
    """Raise InputError naming the first value of a type or range outside the subset.

    Lone surrogates in text are not looked for here but when encoding, where they cost
    nothing until they occur (:func:`encode_checked` names their path too).
    """
    try:
        if _ok(value):
            return
        _locate(value, path)
    except RecursionError:
        raise _too_deep(path) from None
    raise AssertionError("unreachable: _ok and _locate disagree")  # pragma: no cover


def _astral_keys(value: Any) -> bool:
    """True if some object key holds a character above U+FFFF (needs UTF-16 ordering)."""
    if type(value) is dict:
        for k, v in value.items():
            if not k.isascii() and max(k) > "\uffff":
                return True
            if _astral_keys(v):
                return True
    elif type(value) is list or type(value) is tuple:
        return any(_astral_keys(v) for v in value)
    return False


def _utf16_order(value: Any) -> str:
    """Slow path (RFC 8785 §3.2.3): sort keys by their UTF-16 code units."""
    if type(value) is dict:
        items = sorted(value.items(), key=lambda kv: kv[0].encode("utf-16-be"))
        return "{" + ",".join(_encode(k) + ":" + _utf16_order(v) for k, v in items) + "}"
    if type(value) is list or type(value) is tuple:
        return "[" + ",".join(_utf16_order(v) for v in value) + "]"
    return _encode(value)


def encode_checked(value: object, path: str = "$") -> bytes:
    """JCS bytes of a tree whose types are already known good (see :func:`check`).

    Types are not walked again; lone surrogates are still caught, at encode time.
    """
    try:
        text = _encode(value)
        if text.isascii():  # O(1) in CPython; most records are ASCII
            return text.encode()
        out = text.encode("utf-8")
        # Characters above U+FFFF are two UTF-16 code units; this is the cheapest test.
        astral = len(text.encode("utf-16-le")) != 2 * len(text)
    except RecursionError:
        raise _too_deep(path) from None
    except (UnicodeEncodeError, TypeError, ValueError):
        # A lone surrogate, or a value that skipped check(): name the path.
        try:
            _locate(value, path)
        except RecursionError:
            raise _too_deep(path) from None
        raise InputError(f"{path}: cannot be encoded as canonical JSON") from None
    if astral and _astral_keys(value):
        return _utf16_order(value).encode("utf-8")
    return out


def canonical_json(obj: object, path: str = "$") -> bytes:
    """The RFC 8785 bytes of ``obj``; InputError names the first offending ``path``."""
    try:
        ok = _ok(obj)
    except RecursionError:
        raise _too_deep(path) from None
    if not ok:
        check(obj, path)
    return encode_checked(obj, path)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate object key")
    return out


def _no_float(text: str) -> Any:
    raise ValueError(f"number {text[:30]} is not an integer")


def parse_canonical(data: bytes) -> Any:
    """Parse bytes that must already be canonical: anything else is tampering.

    Decoding then re-encoding and comparing byte for byte rejects whitespace, key order,
    escape forms, number forms (``-0``, ``1E2``, ``1.0``), duplicate keys and invalid
    UTF-8 alike, with a single rule.
    """
    try:
        value = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_float=_no_float,
            parse_constant=_no_float,
        )
        again = canonical_json(value)
    except UnicodeDecodeError:
        raise VerificationError("not canonical JSON (invalid UTF-8)") from None
    except InputError as exc:
        raise VerificationError(f"not canonical JSON ({exc.message})") from None
    except RecursionError:
        raise VerificationError("not canonical JSON (nested too deeply)") from None
    except ValueError as exc:  # json.JSONDecodeError and the hooks above
        raise VerificationError(f"not canonical JSON ({exc})") from None
    if again != data:
        raise VerificationError("JSON is not in canonical (RFC 8785) form")
    return value
