"""Pydantic models of the IVOA ExecutionBroker data model in its newest (`kind` + `meta`) form."""

from . import kinds
from .base import Component, Meta, UnknownComponent, Wire
from .data import (
    IvoaDataResource,
    RucioDataResource,
    S3DataResource,
    SimpleDataResource,
    SkaoDataResource,
)
from .executable import DockerContainer, DockerImage, JupyterNotebook, SingularityContainer
from .dialect import Dialect
from .inbound import normalize_request
from .messages import Level, Message, error, info, warn
from .offerset import OfferSet, OfferSetStatus, Result
from .request import ExecutionRequest, RequestedSchedule, RequestSchedule
from .resources import Accelerator, SimpleComputeResource, SimpleStorageResource, SimpleVolumeMount
from .results import ResultLocation, RucioDestination, S3Destination
from .lifecycle import FINAL_PHASES, LIVE_ORDER, Phase, is_before
from .session import (
    EnumValueOption,
    ExecutionSession,
    InstantBlock,
    IntervalBlock,
    SessionConnector,
    SessionSchedule,
    SiteRef,
    options_for,
)
from .update import EnumValueUpdate, normalize_update
from .values import MinMax, format_duration, format_instant, format_interval, parse_duration, parse_interval

__all__ = [
    "Accelerator", "Component", "Dialect", "DockerContainer", "DockerImage", "EnumValueOption", "EnumValueUpdate", "ExecutionRequest",
    "ExecutionSession", "FINAL_PHASES", "LIVE_ORDER", "is_before", "InstantBlock", "IntervalBlock", "IvoaDataResource", "JupyterNotebook",
    "Level", "Message", "Meta", "MinMax", "OfferSet", "OfferSetStatus", "Phase", "RequestSchedule",
    "RequestedSchedule", "Result", "ResultLocation", "RucioDestination", "S3Destination", "RucioDataResource", "S3DataResource", "SessionConnector", "SessionSchedule",
    "SimpleComputeResource", "SimpleDataResource", "SimpleStorageResource", "SimpleVolumeMount",
    "SingularityContainer", "SiteRef", "SkaoDataResource", "UnknownComponent", "Wire", "error",
    "format_duration", "format_instant", "format_interval", "info", "kinds", "normalize_request",
    "normalize_update", "options_for", "parse_duration", "parse_interval", "warn",
]
