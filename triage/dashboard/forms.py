"""The dashboard's GET filter: case, team member and date range of the active agency."""

from __future__ import annotations

from django import forms

from hub.models import User
from triage.dashboard.selectors import MAX_RANGE_DAYS, default_range
from triage.models import Case

SORTS = (("urgency", "Urgency"), ("backlog", "Backlog"), ("age", "Oldest unreviewed"))


class DashboardFilterForm(forms.Form):
    case = forms.ModelChoiceField(
        queryset=Case.objects.none(), required=False, to_field_name="uuid", empty_label="All"
    )
    member = forms.ModelChoiceField(
        queryset=User.objects.none(),
        required=False,
        to_field_name="username",
        empty_label="Everyone",
        label="Team member",
    )
    start = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    end = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    sort = forms.ChoiceField(choices=SORTS, required=False)

    def __init__(self, data=None, *, agency, **kwargs):
        start, end = default_range()
        kwargs.setdefault("initial", {"start": start, "end": end, "sort": "urgency"})
        super().__init__(data, **kwargs)
        self.fields["case"].queryset = Case.objects.filter(agency=agency).order_by(
            "is_closed", "reference"
        )
        self.fields["member"].queryset = User.objects.filter(
            memberships__agency=agency, memberships__is_active=True
        ).order_by("username")
        self.fields["member"].label_from_instance = lambda u: u.get_full_name() or u.username

    def clean(self):
        data = super().clean()
        default_start, default_end = default_range()
        start = data.get("start") or default_start
        end = data.get("end") or default_end
        if start > end:
            self.add_error("end", "The end date is before the start date.")
        elif (end - start).days + 1 > MAX_RANGE_DAYS:
            self.add_error("start", f"Choose at most {MAX_RANGE_DAYS} days.")
        data["start"], data["end"] = start, end
        data["sort"] = data.get("sort") or "urgency"
        return data
