"""Evidence models, one submodule per area (each owned by one part of the pipeline)."""

from triage.models.cases import Case, Urgency
from triage.models.classifier import AgencyModelSetting, ClassifierModel, ClassifierScore
from triage.models.evidence import (
    Blob,
    Derivative,
    EvidenceBatch,
    EvidenceItem,
    ItemStatus,
    KnownState,
    MediaKind,
    ReviewState,
    VideoFrame,
)
from triage.models.matching import HashEntry, HashImport, HashList, Match
from triage.models.review import ExposureEvent, ItemGroup, ReviewDecision

__all__ = [
    "AgencyModelSetting",
    "Blob",
    "Case",
    "ClassifierModel",
    "ClassifierScore",
    "Derivative",
    "EvidenceBatch",
    "EvidenceItem",
    "ExposureEvent",
    "HashEntry",
    "HashImport",
    "HashList",
    "ItemGroup",
    "ItemStatus",
    "KnownState",
    "Match",
    "MediaKind",
    "ReviewDecision",
    "ReviewState",
    "Urgency",
    "VideoFrame",
]
from triage.models.api import ApiToken  # noqa: F401, E402
from triage.models.exports import ExportJob  # noqa: E402, F401
from triage.models.rollups import DailyActivity, DailyActivityState  # noqa: E402, F401
