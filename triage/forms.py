"""Forms of the intake area: case creation/editing and the evidence upload."""

from __future__ import annotations

import re

from django import forms

from hub.models import User
from triage.models import Case, Urgency

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def agency_members(agency):
    """Active members of the agency, the only people a case team may hold."""
    return (
        User.objects.filter(memberships__agency=agency, memberships__is_active=True, is_active=True)
        .order_by("first_name", "username")
        .distinct()
    )


class MemberChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        full = obj.get_full_name()
        return f"{full} ({obj.username})" if full else obj.username


class MembersChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        full = obj.get_full_name()
        return f"{full} ({obj.username})" if full else obj.username


class CaseForm(forms.Form):
    reference = forms.CharField(
        max_length=100, help_text="Your agency's case reference; unique within the agency."
    )
    title = forms.CharField(max_length=200)
    urgency = forms.TypedChoiceField(
        choices=Urgency.choices,
        coerce=int,
        initial=Urgency.ROUTINE,
        help_text="Raises the priority of this case's items in the review queue.",
    )
    lead = MemberChoiceField(queryset=User.objects.none(), required=False)
    team = MembersChoiceField(
        queryset=User.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Investigators see only the cases whose team includes them.",
    )

    def __init__(self, *args, agency, case: Case | None = None, **kwargs):
        kwargs.setdefault("label_suffix", "")  # no colon after labels, as on other forms
        super().__init__(*args, **kwargs)
        self.agency = agency
        self.case = case
        members = agency_members(agency)
        self.fields["lead"].queryset = members
        self.fields["team"].queryset = members
        if case is not None:
            # Reference and title are fixed once evidence hangs off the case.
            del self.fields["reference"]
            del self.fields["title"]

    def clean_reference(self):
        reference = self.cleaned_data["reference"].strip()
        if not reference:
            raise forms.ValidationError("Enter a case reference.")
        if Case.objects.filter(agency=self.agency, reference__iexact=reference).exists():
            raise forms.ValidationError("Your agency already has a case with this reference.")
        return reference


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Many files in one field; validation happens per file in the view."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"multiple": True}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data]
        return [single(data, initial)] if data else []


class UploadForm(forms.Form):
    exhibit_ref = forms.CharField(
        max_length=100,
        required=False,
        label="Exhibit reference",
        help_text="The seizure's exhibit number, e.g. JD/1.",
    )
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    files = MultipleFileField(
        required=False,
        label="Files or archives",
        help_text="Images, videos, or a zip/tar archive; archives are expanded safely.",
    )
    folder = MultipleFileField(
        required=False,
        label="A whole folder",
        widget=MultipleFileInput(attrs={"multiple": True, "webkitdirectory": True}),
        help_text="Folder paths are kept as provenance.",
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")  # no colon after labels, as on other forms
        super().__init__(*args, **kwargs)

    def all_files(self):
        return [*self.cleaned_data.get("files", []), *self.cleaned_data.get("folder", [])]

    def clean(self):
        cleaned = super().clean()
        if not self.errors and not self.all_files():
            raise forms.ValidationError("Choose at least one file, folder or archive to upload.")
        return cleaned
