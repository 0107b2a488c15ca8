"""IVOA MessageItem (Message Templates): level, template, values and the rendered message."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Level(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"
    OTHER = "OTHER"


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str | None = None
    time: datetime | None = None
    level: Level = Level.INFO
    template: str
    values: dict[str, str] = Field(default_factory=dict)
    message: str = ""

    @classmethod
    def of(cls, level: Level, template: str, /, type: str | None = None, **values: object) -> Message:
        text = {k: str(v) for k, v in values.items()}
        return cls(
            type=type,
            time=datetime.now(UTC),
            level=level,
            template=template,
            values=text,
            message=template.format(**text),
        )


def info(template: str, /, **values: object) -> Message:
    return Message.of(Level.INFO, template, **values)


def warn(template: str, /, **values: object) -> Message:
    return Message.of(Level.WARN, template, **values)


def error(template: str, /, **values: object) -> Message:
    return Message.of(Level.ERROR, template, **values)
