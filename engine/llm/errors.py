"""The LLM layer's errors, as branches of the engine's error tree."""

from __future__ import annotations

from eventstore import Attempt, ScenarioLabError

from ..errors import LLMUnavailable


class LLMCallFailed(LLMUnavailable):
    """A model call failed: every retry was used, or the server refused it outright.

    ``attempts`` holds each HTTP attempt in order (what the log records), ``status`` the
    last HTTP status if there was one, ``retryable`` whether waiting could help.
    Messages name the model and the endpoint's host, never a key.
    """

    def __init__(
        self,
        message: str,
        *,
        model: str,
        endpoint: str,
        attempts: tuple[Attempt, ...],
        status: int | None = None,
        retryable: bool = True,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.model = model
        self.endpoint = endpoint
        self.attempts = attempts
        self.status = status
        self.retryable = retryable


class ParseError(ScenarioLabError):
    """A model's reply could not be read as the structure asked for.

    ``text`` is the reply (kept off the message, which stays one line).
    """

    def __init__(self, message: str, *, text: str = "") -> None:
        super().__init__(message)
        self.text = text
