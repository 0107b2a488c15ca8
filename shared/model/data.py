"""Data resources. Their blocks are open (extra fields kept) so nothing a client sends is lost."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Tag, field_validator, model_serializer, model_validator

from . import kinds
from .base import Component, UnknownComponent
from .executable import by_kind


class Did(BaseModel):
    """A Rucio data identifier. Its text form `scope:name` exists only at the edges: the wire (a contract
    that carries DIDs as strings stays compatible) and the messages a person reads."""

    model_config = ConfigDict(frozen=True)

    scope: str = Field(min_length=1)
    name: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: object) -> object:
        if isinstance(value, str):
            scope, sep, name = value.partition(":")
            if not sep:
                raise ValueError(f"a DID is scope:name, not {value!r}")
            return {"scope": scope, "name": name}
        return value

    @model_serializer
    def _as_text(self) -> str:
        return str(self)

    def __str__(self) -> str:
        return f"{self.scope}:{self.name}"

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        return {"type": "string", "pattern": "^[^:]+:.+$", "description": "a Rucio DID, scope:name"}

    def rucio(self) -> dict[str, str]:
        """The form Rucio's API takes."""
        return {"scope": self.scope, "name": self.name}


class Block(BaseModel):
    model_config = ConfigDict(extra="allow")


class RucioBlock(Block):
    endpoint: str | None = None
    scope: str | None = None
    object: str | None = Field(default=None, description="DID name")
    type: Literal["FILE", "DATASET", "CONTAINER"] | None = None
    rses: list[str] = Field(default_factory=list, description="extension: RSE hints")


class SkaoReplica(Block):
    rsename: str | None = None
    dataurl: str | None = None


class SkaoBlock(Block):
    namespace: str | None = Field(default=None, description="the Rucio scope")
    objectname: str | None = Field(default=None, description="the DID name")
    objecttype: Literal["FILE", "DATASET", "CONTAINER"] | None = None
    datasize: int | None = Field(default=None, ge=0)
    replicas: list[SkaoReplica] = Field(default_factory=list)


class SimpleDataResource(Component):
    kind: Literal[kinds.SIMPLE_DATA] = kinds.SIMPLE_DATA
    location: str = Field(min_length=1)
    storage: str | None = None


class S3DataResource(Component):
    kind: Literal[kinds.S3_DATA] = kinds.S3_DATA
    endpoint: str | None = None
    template: str | None = None
    bucket: str | None = None
    object: str | None = None
    storage: str | None = None


class RucioDataResource(Component):
    kind: Literal[kinds.RUCIO_DATA] = kinds.RUCIO_DATA
    rucio: RucioBlock
    storage: str | None = None

    @field_validator("rucio")
    @classmethod
    def _did(cls, block: RucioBlock) -> RucioBlock:
        if not block.scope or not block.object:
            raise ValueError("a Rucio DID needs both scope and object (the DID name)")
        return block

    def did(self) -> Did:
        return Did(scope=self.rucio.scope, name=self.rucio.object)


class IvoaDataResource(Component):
    kind: Literal[kinds.IVOA_DATA] = kinds.IVOA_DATA
    ivoa: Block | None = None
    storage: str | None = None


class SkaoDataResource(Component):
    kind: Literal[kinds.SKAO_DATA] = kinds.SKAO_DATA
    ivoa: Block | None = None
    skao: SkaoBlock
    storage: str | None = None

    @field_validator("skao")
    @classmethod
    def _did(cls, block: SkaoBlock) -> SkaoBlock:
        if not block.namespace or not block.objectname:
            raise ValueError("an SKAO data resource needs namespace (the Rucio scope) and objectname")
        return block

    def did(self) -> Did:
        return Did(scope=self.skao.namespace, name=self.skao.objectname)


_DATA_KINDS = frozenset({kinds.SIMPLE_DATA, kinds.S3_DATA, kinds.RUCIO_DATA, kinds.IVOA_DATA, kinds.SKAO_DATA})

Data = Annotated[
    Annotated[SimpleDataResource, Tag(kinds.SIMPLE_DATA)]
    | Annotated[S3DataResource, Tag(kinds.S3_DATA)]
    | Annotated[RucioDataResource, Tag(kinds.RUCIO_DATA)]
    | Annotated[IvoaDataResource, Tag(kinds.IVOA_DATA)]
    | Annotated[SkaoDataResource, Tag(kinds.SKAO_DATA)]
    | Annotated[UnknownComponent, Tag("unknown")],
    by_kind(_DATA_KINDS),
]
