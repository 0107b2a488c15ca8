"""Data: a data agent's locality answers (`data`), staging rules (`data.stage`) and their progress (`data.progress`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, Field

from ..model import Message
from ..model.data import Data, Did, S3DataResource


class Locality(StrEnum):
    LOCAL = "LOCAL"  # every byte already at the site: "we can do this now"
    STAGE = "STAGE"  # can be brought to the site: "we can do this in X minutes"
    NO = "NO"  # does not exist, or cannot (or, by policy, will not) be brought here
    UNKNOWN = "UNKNOWN"  # the catalogue could not be asked


class DataItem(BaseModel):
    field: str = Field(description="where in the request, e.g. data[0]")
    did: str = Field(description="scope:name, or the URL of a simple data resource")
    locality: Locality
    bytes: int | None = None
    missing_bytes: int = 0
    source: str | None = Field(None, description="where staging copies from (an RSE)")
    target: str | None = Field(None, description="where it is, or will be, at the site (an RSE)")
    eta: float = Field(0.0, description="seconds until local")
    reason: str | None = None


class DataRequest(BaseModel):
    offerset: UUID
    data: list[Data]
    deadline: datetime


class DataAnswer(BaseModel):
    offerset: UUID
    site: str
    agent: str
    locality: Locality
    eta: float = Field(0.0, description="seconds until every item is local")
    items: list[DataItem] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)


class StageRequest(BaseModel):
    session: UUID
    dids: list[Did] = Field(description="each DID to bring to the site (scope:name on the wire)")
    objects: list[S3DataResource] = Field(default_factory=list, description="each S3 data resource to bring to the "
                                                                           "site's staging bucket (absent before S3)")
    rse_expression: str | None = Field(None, description="default: the site's RSEs")
    lifetime: int | None = Field(None, description="seconds the rule keeps the data")


class StageAnswer(BaseModel):
    session: UUID
    rules: list[str] = Field(default_factory=list, description="Rucio rule ids, and S3 copies' ids (s3:...)")
    messages: list[Message] = Field(default_factory=list)


class ProgressRequest(BaseModel):
    rules: list[str]


class StageProgress(BaseModel):
    rules: list[str]
    state: str = Field(description="OK, REPLICATING, STUCK, SUSPENDED or UNKNOWN")
    ok: int = 0
    total: int = 0
    bytes: int | None = Field(None, description="once OK: the bytes of the rules' files now at the site")
    messages: list[Message] = Field(default_factory=list)
