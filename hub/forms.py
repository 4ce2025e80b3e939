"""Forms of the platform pages. Validation lives here; writes live in hub.services."""

from __future__ import annotations

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


class AgencySettingsForm(forms.Form):
    """Every field of ``hub.policy.AgencyPolicy`` an admin may edit."""

    category_scheme = forms.ChoiceField(
        choices=[(k, k) for k in CATEGORY_SCHEMES] + [("custom", "custom")]
    )
    custom_categories = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="For the custom scheme only: one category a line, as code=label.",
    )
    weight_classifier = forms.FloatField(min_value=-1000, max_value=1000)
    weight_near_match = forms.FloatField(min_value=-1000, max_value=1000)
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
    second_review_categories = forms.CharField(
        required=False, help_text="Category codes that need a second reviewer, comma-separated."
    )
    blur_default = forms.BooleanField(required=False, label="Blur previews by default")
    grayscale_default = forms.BooleanField(required=False, label="Grayscale previews by default")
    exposure_guideline_reveals_per_day = forms.IntegerField(min_value=1, max_value=100_000)
    exposure_guideline_video_minutes_per_day = forms.IntegerField(min_value=1, max_value=1440)
    break_reminder_after_reveals = forms.IntegerField(min_value=1, max_value=100_000)
    lease_seconds = forms.IntegerField(
        min_value=30, max_value=86_400, help_text="How long a claimed review item stays yours."
    )
    undo_seconds = forms.IntegerField(min_value=0, max_value=3600)
    max_upload_bytes = forms.IntegerField(min_value=1024, max_value=2**50)
    retention_days = forms.IntegerField(
        min_value=0, max_value=36_500, help_text="0 keeps evidence until a case is purged."
    )
    skip_classifier_on_exact_match = forms.BooleanField(required=False)
    near_duplicate_distance = forms.IntegerField(min_value=0, max_value=64)

    WEIGHT_FIELDS = (
        "classifier",
        "near_match",
        "exact_match",
        "urgency_step",
        "age_per_day",
        "age_cap",
    )

    @classmethod
    def initial_for(cls, policy: AgencyPolicy) -> dict:
        data = policy.as_dict()
        weights = data.pop("weights")
        data.update({f"weight_{k}": v for k, v in weights.items()})
        data["custom_categories"] = "\n".join(
            f"{c}={label}" for c, label in data["custom_categories"]
        )
        data["second_review_categories"] = ", ".join(data["second_review_categories"])
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
        if scheme and "second_review_categories" in data:
            codes = _codes(data["second_review_categories"])
            # The default (["1", "A"]) deliberately names codes of two schemes, so a code
            # of any built-in scheme is accepted; anything else is a typo.
            known = {c for c, _ in custom} if scheme == "custom" else set()
            for pairs in CATEGORY_SCHEMES.values():
                known |= {c for c, _ in pairs}
            unknown = [c for c in codes if c not in known]
            if unknown:
                self.add_error(
                    "second_review_categories",
                    f"Unknown category codes: {', '.join(unknown)}.",
                )
            data["second_review_categories"] = codes
        return data

    def policy_values(self) -> dict:
        """The cleaned data in ``Agency.settings`` shape."""
        data = dict(self.cleaned_data)
        weights = {k: data.pop(f"weight_{k}") for k in self.WEIGHT_FIELDS}
        data["weights"] = weights
        return data
