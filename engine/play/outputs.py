"""The structured answers the engine asks models for, besides decisions.

Each is sent as a JSON schema when JSON mode is on and parsed tolerantly otherwise.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class WorldOut(BaseModel):
    model_config = ConfigDict(extra="ignore")
    narrative: str
    key_changes: list[str]
    consequences: list[str]


class MetricOut(BaseModel):
    model_config = ConfigDict(extra="ignore")
    value: float
    explanation: str


class ValidationOut(BaseModel):
    model_config = ConfigDict(extra="ignore")
    passed: bool
    issues: list[str]
    severity: Literal["low", "medium", "high"]
    explanation: str
