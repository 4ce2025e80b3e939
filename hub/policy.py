"""Agency policy: every per-agency setting, its documented default and its validation.

Stored as JSON on ``Agency.settings`` so that a new setting needs no migration; read only
through ``policy_for`` so every caller sees the defaults merged in."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

CATEGORY_SCHEMES: dict[str, list[tuple[str, str]]] = {
    # Project VIC US: 0 means NON-pertinent here.
    "projectvic_us": [
        ("0", "Non-pertinent"),
        ("1", "Child abuse material"),
        ("2", "Child exploitive / age difficult"),
        ("3", "CGI / animation"),
        ("4", "Comparison"),
    ],
    # Legacy DHS scheme: 0 means UNCATEGORISED here, the opposite of Project VIC US.
    "legacy": [
        ("0", "Uncategorised"),
        ("1", "Category 1"),
        ("2", "Category 2"),
        ("3", "Category 3"),
        ("4", "Category 4"),
        ("5", "Non-pertinent"),
    ],
    "uk_caid": [
        ("A", "Category A"),
        ("B", "Category B"),
        ("C", "Category C"),
        ("NP", "Non-pertinent"),
    ],
}


@dataclass(frozen=True)
class PriorityWeights:
    """Weights of the priority function (see triage.priority)."""

    classifier: float = 60.0  # times the classifier score of new material
    near_match: float = 30.0  # a near-duplicate of known material to confirm
    # A near-duplicate only of material a list grades non-pertinent: confirming it matters
    # little, so it ranks with unscored new material, not above it.
    near_match_non_pertinent: float = 0.0
    # -60, not -50: with -50 an exact match in an old child-at-risk case (+45 urgency,
    # +10 age) outranked unscored new material in a routine case.
    exact_match: float = -60.0  # exact known matches go last, across all cases
    urgency_step: float = 15.0  # per urgency level of the case
    age_per_day: float = 0.5  # older items rise slowly, capped
    age_cap: float = 10.0


@dataclass(frozen=True)
class AgencyPolicy:
    category_scheme: str = "projectvic_us"
    custom_categories: list = field(default_factory=list)  # [[code, label], ...] for "custom"
    weights: PriorityWeights = field(default_factory=PriorityWeights)
    auto_grade_exact: bool = True
    verification_sample_percent: float = 2.0
    second_review_categories: list = field(default_factory=lambda: ["1", "A"])
    blur_default: bool = True
    grayscale_default: bool = True
    exposure_guideline_reveals_per_day: int = 200
    exposure_guideline_video_minutes_per_day: int = 30
    break_reminder_after_reveals: int = 50
    lease_seconds: int = 300
    undo_seconds: int = 30
    max_upload_bytes: int = 20 * 1024**3
    retention_days: int = 0  # 0 keeps evidence until a case is purged by hand
    # Days a finished export's folder and zip are kept before the hourly sweep deletes
    # them (triage.exports.services.expire_exports); 0 keeps them until deleted by hand.
    export_retention_days: int = 30
    skip_classifier_on_exact_match: bool = True
    near_duplicate_distance: int = 31

    @property
    def categories(self) -> list[tuple[str, str]]:
        if self.category_scheme == "custom":
            return [(str(c), str(label)) for c, label in self.custom_categories]
        return CATEGORY_SCHEMES[self.category_scheme]

    @property
    def non_pertinent_codes(self) -> frozenset[str]:
        """The codes whose label says "non-pertinent": Project VIC 0, legacy 5, UK CAID NP
        (see CATEGORY_SCHEMES), and those a custom scheme labels so."""
        words = ("non-pertinent", "non pertinent", "not pertinent")
        return frozenset(
            code for code, label in self.categories if any(w in label.lower() for w in words)
        )

    def as_dict(self) -> dict:
        return asdict(self)


def policy_for(agency) -> AgencyPolicy:
    stored = dict(agency.settings or {})
    known = {f.name for f in fields(AgencyPolicy)}
    kwargs = {k: v for k, v in stored.items() if k in known}
    if isinstance(kwargs.get("weights"), dict):
        wknown = {f.name for f in fields(PriorityWeights)}
        kwargs["weights"] = PriorityWeights(
            **{k: v for k, v in kwargs["weights"].items() if k in wknown}
        )
    return AgencyPolicy(**kwargs)
