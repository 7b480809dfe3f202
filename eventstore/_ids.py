"""Checks on ids that users type: run and batch references.

An id a user gives goes into SQL (as an exact value and a LIKE prefix) and into error
messages. A 100,000-character one made SQLite raise "LIKE or GLOB pattern too complex"
(a traceback), and a newline in one would break the one-line error it is quoted in. So
a reference is checked first, and a bad one is a usage error on one line.
"""

from __future__ import annotations

from ._errors import UsageError

MAX_ID_CHARS = 64  # ids we make are 12 hex digits; a fork's or a test's may be longer


def check_ref(ref: str, kind: str = "run") -> str:
    """``ref`` if it can be a ``kind`` id or a prefix of one; else ``UsageError``.

    It must be 1 to ``MAX_ID_CHARS`` printable characters without spaces. Any other
    character is allowed: ids made outside the CLI may hold ``_`` or ``%``.
    """
    hint = f"list them with `scenario-lab {'runs' if kind == 'run' else 'batch list'}`"
    if len(ref) > MAX_ID_CHARS:
        raise UsageError(
            f"a {kind} id of {len(ref):,} characters ({ref[:12]!r}...) is not one: "
            f"{kind} ids have at most {MAX_ID_CHARS}",
            hint=hint,
        )
    if not ref or not ref.isprintable() or any(c.isspace() for c in ref):
        raise UsageError(
            f"{ref!r} is not a {kind} id: give its first characters, without spaces",
            hint=hint,
        )
    return ref
