"""Forms of the platform pages. Validation lives here; writes live in hub.services."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib.auth.password_validation import password_validators_help_text_html
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.text import slugify

from hub.models import Agency, Role, User
from hub.policy import CATEGORY_SCHEMES, AgencyPolicy


class AgencyCreateForm(forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.SlugField(
        max_length=60, required=False, help_text="Short name for URLs and commands."
    )
    admin_email = forms.EmailField(label="First admin's e-mail")

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if Agency.objects.filter(name__iexact=name).exists():
            raise ValidationError("An agency with this name exists.")
        return name

    def clean(self):
        data = super().clean()
        if "name" in data:
            slug = data.get("slug") or slugify(data["name"])[:60]
            if not slug:
                self.add_error("slug", "Give a slug of letters, digits and hyphens.")
            elif Agency.objects.filter(slug=slug).exists():
                self.add_error("slug", "An agency with this slug exists.")
            data["slug"] = slug
        return data


class InviteForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Role.choices, initial=Role.INVESTIGATOR)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class AcceptNewUserForm(forms.Form):
    username = forms.RegexField(
        regex=r"^[\w.@+-]{3,150}$",
        max_length=150,
        help_text="3 to 150 letters, digits and . @ + - _",
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password1 = forms.CharField(
        label="Password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Password again", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean_username(self):
        username = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise ValidationError("That username is taken. Choose another.")
        return username

    def clean(self):
        data = super().clean()
        if data.get("password1") and data.get("password1") != data.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        return data


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150)
    action = forms.CharField(required=False, max_length=80)
    object = forms.CharField(required=False, max_length=80, help_text="Object id or type")
    since = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    until = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def filter(self, queryset):
        if not self.is_valid():
            return queryset.none()
        data = self.cleaned_data
        if data["actor"]:
            queryset = queryset.filter(actor_label__iexact=data["actor"])
        if data["action"]:
            queryset = queryset.filter(action__istartswith=data["action"])
        if data["object"]:
            queryset = queryset.filter(
                Q(object_id=data["object"]) | Q(object_type__iexact=data["object"])
            )
        if data["since"]:
            queryset = queryset.filter(created_at__gte=data["since"])
        if data["until"]:
            queryset = queryset.filter(created_at__lte=data["until"])
        return queryset


def _codes(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


GIB = 1024**3


def scheme_label(key: str) -> str:
    """The name the hash-list pages use for a scheme (``triage.models.Scheme``): one
    source of truth for "Project VIC US", "Legacy DHS", "UK CAID" and "Custom"."""
    from triage.models.matching import Scheme  # the platform app imports triage lazily

    return dict(Scheme.choices).get(key, key)


def _scheme_choices() -> list[tuple[str, str]]:
    return [(key, scheme_label(key)) for key in [*CATEGORY_SCHEMES, "custom"]]


def _scheme_codes_help() -> str:
    codes = "; ".join(
        f"{scheme_label(key)}: {', '.join(c for c, _ in pairs)}"
        for key, pairs in CATEGORY_SCHEMES.items()
    )
    return (
        "Codes of the chosen scheme that need a second reviewer, comma-separated "
        f"({codes}; Custom: your own codes)."
    )


def _gib_text(value: int) -> str:
    """Bytes as GiB for the form: at most six decimals (about 1 KiB), no trailing zeros."""
    return f"{Decimal(value) / GIB:.6f}".rstrip("0").rstrip(".")


class AgencySettingsForm(forms.Form):
    """Every field of ``hub.policy.AgencyPolicy`` an admin may edit."""

    category_scheme = forms.ChoiceField(choices=_scheme_choices)
    custom_categories = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="For the custom scheme only: one category a line, as code=label.",
    )
    weight_classifier = forms.FloatField(min_value=-1000, max_value=1000)
    weight_near_match = forms.FloatField(min_value=-1000, max_value=1000)
    weight_near_match_non_pertinent = forms.FloatField(
        min_value=-1000,
        max_value=1000,
        label="Weight near match (non-pertinent only)",
    )
    weight_exact_match = forms.FloatField(min_value=-1000, max_value=1000)
    weight_urgency_step = forms.FloatField(min_value=-1000, max_value=1000)
    weight_age_per_day = forms.FloatField(min_value=0, max_value=1000)
    weight_age_cap = forms.FloatField(min_value=0, max_value=10000)
    auto_grade_exact = forms.BooleanField(
        required=False, label="Auto-grade exact matches of known material"
    )
    verification_sample_percent = forms.FloatField(
        min_value=0, max_value=100, help_text="Share of auto-graded items sent for a check."
    )
    second_review_categories = forms.CharField(required=False)
    blur_default = forms.BooleanField(required=False, label="Blur previews by default")
    grayscale_default = forms.BooleanField(required=False, label="Grayscale previews by default")
    # Short labels: in the three-column grid a label that wraps pushes its input out of line.
    exposure_guideline_reveals_per_day = forms.IntegerField(
        min_value=1,
        max_value=100_000,
        label="Reveals per day",
        help_text="Guideline per person; the dashboard marks days over it.",
    )
    exposure_guideline_video_minutes_per_day = forms.IntegerField(
        min_value=1,
        max_value=1440,
        label="Video minutes per day",
        help_text="Guideline per person, minutes of video played.",
    )
    break_reminder_after_reveals = forms.IntegerField(
        min_value=1,
        max_value=100_000,
        label="Break reminder every",
        help_text="Reveals; the reviewer is reminded to take a break every this many.",
    )
    lease_seconds = forms.IntegerField(
        min_value=30, max_value=86_400, help_text="How long a claimed review item stays yours."
    )
    undo_seconds = forms.IntegerField(min_value=0, max_value=3600)
    # Shown and entered in GiB, stored in bytes (``max_upload_bytes``; see policy_values).
    max_upload_gib = forms.DecimalField(
        min_value=Decimal("0.000001"),
        max_value=Decimal(2**50 // GIB),
        decimal_places=6,
        widget=forms.NumberInput(attrs={"step": "any"}),
        label="Max upload size (GiB)",
        help_text="Per upload, archives included. 1 GiB = 1024³ bytes.",
    )
    retention_days = forms.IntegerField(
        min_value=0, max_value=36_500, help_text="0 keeps evidence until a case is purged."
    )
    export_retention_days = forms.IntegerField(
        min_value=0,
        max_value=3650,
        label="Keep exports for (days)",
        help_text="A finished export's folder and zip are deleted this many days after it "
        "finished (0 keeps them until someone deletes them). The record of the export stays.",
    )
    skip_classifier_on_exact_match = forms.BooleanField(required=False)
    near_duplicate_distance = forms.IntegerField(
        min_value=0,
        max_value=64,
        label="Near-duplicate distance",
        help_text="Largest PDQ Hamming distance (0–64) at which two images are grouped as "
        "near-duplicates. The PDQ reference distance is 31; above about 45, unrelated images "
        "start to be grouped together.",
    )

    WEIGHT_FIELDS = (
        "classifier",
        "near_match",
        "near_match_non_pertinent",
        "exact_match",
        "urgency_step",
        "age_per_day",
        "age_cap",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["second_review_categories"].help_text = _scheme_codes_help()

    @classmethod
    def initial_for(cls, policy: AgencyPolicy) -> dict:
        data = policy.as_dict()
        weights = data.pop("weights")
        data.update({f"weight_{k}": v for k, v in weights.items()})
        data["custom_categories"] = "\n".join(
            f"{c}={label}" for c, label in data["custom_categories"]
        )
        # Only the codes of the scheme in force: the default (["1", "A"]) names codes of
        # two schemes so that it works under either, and a code outside the scheme can
        # never be graded. ``policy_values`` keeps the stored list when this is unchanged.
        data["second_review_categories"] = ", ".join(_codes_in_scheme(policy))
        data["max_upload_gib"] = _gib_text(data.pop("max_upload_bytes"))
        return data

    def clean_custom_categories(self):
        pairs = []
        for line in self.cleaned_data["custom_categories"].splitlines():
            if not line.strip():
                continue
            code, sep, label = line.partition("=")
            if not sep or not code.strip() or not label.strip():
                raise ValidationError(f"{line!r} is not code=label.")
            pairs.append([code.strip(), label.strip()])
        codes = [c for c, _ in pairs]
        if len(set(codes)) != len(codes):
            raise ValidationError("Each category code may appear once.")
        return pairs

    def clean(self):
        data = super().clean()
        scheme = data.get("category_scheme")
        custom = data.get("custom_categories") or []
        if scheme == "custom" and len(custom) < 2:
            self.add_error("custom_categories", "A custom scheme needs at least two categories.")
        # A custom scheme whose categories are wrong has no codes to check against yet.
        custom_broken = scheme == "custom" and "custom_categories" in self.errors
        if scheme and "second_review_categories" in data and not custom_broken:
            codes = _codes(data["second_review_categories"])
            if scheme == "custom":
                known = [c for c, _ in custom]
            else:
                known = [c for c, _ in CATEGORY_SCHEMES[scheme]]
            unknown = [c for c in codes if c not in known]
            if unknown:
                self.add_error(
                    "second_review_categories",
                    f"Not a code of the {scheme_label(scheme)} scheme: {', '.join(unknown)}. "
                    f"Its codes are {', '.join(known)}.",
                )
            data["second_review_categories"] = codes
        return data

    def policy_values(self, current: AgencyPolicy | None = None) -> dict:
        """The cleaned data in ``Agency.settings`` shape. With ``current`` (the policy in
        force), a value the form shows in another shape than it is stored in is kept as
        stored when the form gives it back unchanged: the second-review codes outside the
        scheme (see ``initial_for``) and an upload limit finer than the form's 0.000001 GiB."""
        data = dict(self.cleaned_data)
        weights = {k: data.pop(f"weight_{k}") for k in self.WEIGHT_FIELDS}
        data["weights"] = weights
        gib = data.pop("max_upload_gib")
        data["max_upload_bytes"] = int(gib * GIB)
        if current is not None:
            if Decimal(_gib_text(current.max_upload_bytes)) == gib:
                data["max_upload_bytes"] = current.max_upload_bytes
            same_scheme = data["category_scheme"] == current.category_scheme
            codes = data["second_review_categories"]
            if same_scheme and codes == _codes_in_scheme(current):
                data["second_review_categories"] = list(current.second_review_categories)
        return data

    def error_summary(self) -> list[dict]:
        """The fields with errors, in page order, for the summary at the top of the form."""
        return [
            {"id": self[name].id_for_label, "label": self[name].label, "errors": errors}
            for name, errors in ((n, self.errors[n]) for n in self.fields if n in self.errors)
        ]


def _codes_in_scheme(policy: AgencyPolicy) -> list[str]:
    known = {c for c, _ in policy.categories}
    return [str(c) for c in policy.second_review_categories if str(c) in known]
