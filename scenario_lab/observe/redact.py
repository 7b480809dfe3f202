"""No secret in a log line: fields named like one, and the values of known ones.

Two guards, because a key can reach a line in ways no field name reveals (an error
message quoting a header, a URL with a token in it): fields whose name says secret are
blanked before rendering, and the rendered line is scrubbed of every known secret value
(the API keys in the environment) and of anything shaped like a bearer token.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

REDACTED = "[redacted]"

# field names that hold a secret ("input_tokens" does not: "token" must be the whole word)
_SECRET_KEY = re.compile(
    r"(?i)(^|_)(api_?key|apikey|authorization|auth|password|passwd|secret|token|cookie)$"
)
# environment variables whose values are secrets
_SECRET_ENV = re.compile(r"(?i)(api_?key|token|secret|password|passwd)$")
# shapes of secrets in free text: an Authorization header's value, key=value in URLs
_SHAPES = (
    re.compile(r"(?i)(\bbearer\s+)[^\s\"',;]+"),
    re.compile(r"(?i)(\b(?:api_?key|access_token|token|password|secret)=)[^&\s\"',;]+"),
)
_SHORTEST = 6  # values shorter than this are too common to scrub ("1", "true")


def secrets_from_env(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The values of the environment's secret variables (``*_API_KEY``, ``*_TOKEN``,
    ``*_SECRET``, ``*_PASSWORD``): never to appear in a line."""
    values = {v for k, v in environ.items() if _SECRET_ENV.search(k) and len(v) >= _SHORTEST}
    # longest first, so a key containing another is replaced whole
    return tuple(sorted(values, key=len, reverse=True))


def redact_fields(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: blank the value of every field named like a secret."""
    for key in event:
        if _SECRET_KEY.search(key):
            event[key] = REDACTED
    return event


def scrub(line: str, secrets: Iterable[str]) -> str:
    """``line`` without the known ``secrets`` and without bearer tokens or key=value
    secrets."""
    for value in secrets:
        if value in line:
            line = line.replace(value, REDACTED)
    for shape in _SHAPES:
        line = shape.sub(lambda m: m.group(1) + REDACTED, line)
    return line
