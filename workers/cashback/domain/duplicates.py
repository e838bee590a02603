"""Is a field of the contract given twice in one object? Then the event is ambiguous.

`{"total_minor": 100, "total_minor": 9000}` is valid JSON, but parsers disagree on it
(msgspec and most keep the last, some keep the first, some refuse), so two systems
reading the same record can pay two different amounts: the worker refuses it
(`duplicate_key`). Keys the contract does not define are ignored like any unknown key,
repeated or not (they never reach an amount; the native engine skips them the same way).

Three tiers, each exact, the next one only where the one before cannot prove the record
clean: (1) the keys in the bytes against the fields the typed decode certainly read (a
byte count and a walk over the typed event: the common record stops here); (2) the keys
against an untyped decode written back (unknown keys, defaults written out); (3) a parse
that keeps every pair (the record repeats some key, or is written with escapes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

import msgspec

_generic: Final = msgspec.json.Decoder()
_encode: Final = msgspec.json.encode
_BLANK_BEFORE_COLON: Final = re.compile(rb'"[ \t\r\n]+:')


def _names(cls: Any) -> frozenset[str]:
    return frozenset(f.encode_name for f in msgspec.structs.fields(cls))


class _Object(dict[str, Any]):
    """A decoded object that remembers the keys it was given more than once."""

    __slots__ = ("repeated",)

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        self.repeated: set[str] = set()
        if len(self) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    self.repeated.add(key)
                seen.add(key)


def _blank_before_colon(raw: bytes) -> bool:
    # Four one-byte scans (memchr) rule out most records before the regex has to run.
    blank = b" " in raw or b"\n" in raw or b"\t" in raw or b"\r" in raw
    return blank and _BLANK_BEFORE_COLON.search(raw) is not None


@dataclass(frozen=True, slots=True)
class _Shape:
    required: int
    optional: tuple[tuple[str, Any], ...]


_SHAPES: dict[type, _Shape] = {}


def _shape(cls: type) -> _Shape:
    shape = _SHAPES.get(cls)
    if shape is None:
        found = msgspec.structs.fields(cls)
        shape = _Shape(
            sum(1 for f in found if f.required),
            tuple((f.name, f.default) for f in found if not f.required),
        )
        _SHAPES[cls] = shape
    return shape


def certain_keys(value: msgspec.Struct) -> int:
    """Keys of `value`'s object (and the objects inside it) that were certainly written:
    the required ones, and the optional ones holding something else than their default."""
    shape = _shape(type(value))
    count = shape.required
    for name, default in shape.optional:
        if getattr(value, name) != default:
            count += 1
    for name in value.__struct_fields__:
        inner = getattr(value, name)
        if isinstance(inner, msgspec.Struct):
            count += certain_keys(inner)
        elif type(inner) is tuple and inner and isinstance(inner[0], msgspec.Struct):
            count += sum(certain_keys(item) for item in inner)
    return count


def certainly_unique(
    raw: bytes, event: msgspec.Struct, keys: Callable[[Any], int] = certain_keys
) -> bool:
    """True when no object of `raw` can repeat a key, from the typed `event` alone.

    Every key written is one `":` in the bytes (no backslash, no blank before a colon),
    plus strings that start with a colon: at least as many `":` as keys. The typed event
    certainly read `certain_keys` distinct keys (plus the tag). Equal counts leave no
    room for a repeat anywhere; any other count is left to `repeats_anything`.
    """
    if b"\\" in raw:
        return False
    if _blank_before_colon(raw):
        return False
    return raw.count(b'":') == keys(event) + 1  # + the tag, `type`


def repeats_anything(raw: bytes) -> bool:
    """False only when no object of `raw` (valid JSON) repeats a key: exact, not a guess.

    Without backslashes and without a blank between a closing quote and a colon, every
    key of the input is one `":` and the only other `":` are strings that start with a
    colon. Re-encoding the untyped decode (which keeps one value per key) writes each
    surviving key and string the same way, so the counts differ exactly when some key
    was given twice.
    """
    if b"\\" in raw:
        return True
    if _blank_before_colon(raw):
        return True
    try:
        again = _encode(_generic.decode(raw))
    except (msgspec.DecodeError, msgspec.EncodeError, RecursionError, OverflowError):
        return True
    return raw.count(b'":') != again.count(b'":')


Schema = tuple[tuple[str, frozenset[str]], ...]


def schema_of(*objects: tuple[str, Any], extra_root: Iterable[str] = ()) -> Schema:
    """(json path, the contract's field names there) for each object the decoder reads;
    a path step `name[]` is every item of a list. `extra_root`: e.g. the tag field."""
    return tuple(
        (path, _names(cls) | (frozenset(extra_root) if path == "$" else frozenset()))
        for path, cls in objects
    )


def repeated_field(raw: bytes, schema: Schema) -> str | None:
    """The path of the first contract field given twice in one object, or None."""
    if not repeats_anything(raw):
        return None
    try:
        document = json.loads(raw, object_pairs_hook=_Object)
    except (ValueError, RecursionError):
        return None  # the typed decode accepted it; this parser is only stricter
    for path, names in schema:
        for where, found in _at(document, path):
            repeated = sorted(getattr(found, "repeated", set()) & names)
            if repeated:
                return f"{where}.{repeated[0]}"
    return None


def _at(node: Any, path: str) -> Iterable[tuple[str, Any]]:
    """Follow `$.a.b[].c` through dicts and lists (a `[]` step fans out over a list)."""
    found: list[tuple[str, Any]] = [("$", node)]
    for step in filter(None, path[1:].split(".")):
        fan = step.endswith("[]")
        name = step[:-2] if fan else step
        following: list[tuple[str, Any]] = []
        for where, value in found:
            child = value.get(name) if isinstance(value, dict) else None
            if fan and isinstance(child, list):
                following += [(f"{where}.{name}[{i}]", item) for i, item in enumerate(child)]
            elif not fan and child is not None:
                following.append((f"{where}.{name}", child))
        found = following
    return found
