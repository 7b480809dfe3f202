"""Which fields of which events name a blob: what ``verify`` checks is in the log.

An event holds a blob's sha256 (a prompt as sent, a raw answer) in a field named
``prompt_hash`` or ``response_hash``, at the top level or inside a nested struct (the
``call`` of a decision, message, metric...). The paths are read from the catalogue's
types once, so an event type that gains such a field is covered without an edit here
(``tests/test_integrity_blobs.py`` holds that every such field is found).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec.inspect as mi

from ._events import EVENT_TYPES, Event, event_type

BLOB_FIELDS = frozenset({"prompt_hash", "response_hash"})

Path = tuple[str, ...]


def _paths(t: mi.Type, prefix: Path, seen: frozenset[type]) -> Iterator[Path]:
    if isinstance(t, mi.UnionType):
        for member in t.types:
            yield from _paths(member, prefix, seen)
    elif isinstance(t, mi.StructType) and t.cls not in seen:
        for f in t.fields:
            if f.name in BLOB_FIELDS:
                yield (*prefix, f.name)
            else:
                yield from _paths(f.type, (*prefix, f.name), seen | {t.cls})


class _BlobPaths(Mapping[str, tuple[Path, ...]]):
    """Event type -> the attribute paths that hold a blob's sha256 (types with none
    left out). Worked out from the event catalogue at first use: walking every type
    costs ~10 ms, which a command that never checks blobs (``run``) should not pay."""

    @functools.cached_property
    def _paths(self) -> dict[str, tuple[Path, ...]]:
        return {
            name: paths
            for name, cls in EVENT_TYPES.items()
            if (paths := tuple(_paths(mi.type_info(cls), (), frozenset())))
        }

    def __getitem__(self, name: str) -> tuple[Path, ...]:
        return self._paths[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


BLOB_PATHS: Mapping[str, tuple[Path, ...]] = _BlobPaths()


def blob_refs(event: Event) -> list[str]:
    """The sha256 of every blob ``event`` names, in field order."""
    out: list[str] = []
    for path in BLOB_PATHS.get(event_type(event), ()):
        value: Any = event
        for name in path:
            value = getattr(value, name, None)
            if value is None:
                break
        if isinstance(value, str):
            out.append(value)
    return out
