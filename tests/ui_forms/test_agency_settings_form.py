"""The agency settings page as an admin reads it: scheme names, codes of the chosen
scheme, the upload limit in GiB, and a summary of what to correct."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from hub.forms import AgencySettingsForm
from hub.policy import AgencyPolicy
from tests.hub.helpers import events

pytestmark = pytest.mark.django_db

URL = "hub:agency_settings"
GIB = 1024**3


def _valid(policy=None, **changes):
    data = AgencySettingsForm.initial_for(policy or AgencyPolicy())
    data = {k: v for k, v in data.items() if v is not False}  # unchecked boxes are absent
    data = {k: ("on" if v is True else v) for k, v in data.items()}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_schemes_are_shown_by_name(client_for, alice):
    body = client_for(alice).get(reverse(URL)).content.decode()
    for value, name in (
        ("projectvic_us", "Project VIC US"),
        ("legacy", "Legacy DHS"),
        ("uk_caid", "UK CAID"),
        ("custom", "Custom"),
    ):
        assert re.search(rf'<option value="{value}"[^>]*>{name}</option>', body), name
    assert ">projectvic_us<" not in body


def test_scheme_names_match_the_hash_list_pages():
    from triage.models.matching import Scheme

    field = AgencySettingsForm().fields["category_scheme"]
    assert list(field.choices) == list(Scheme.choices)


def test_default_second_review_codes_show_only_the_schemes_codes(client_for, alice, demo_agency):
    form = client_for(alice).get(reverse(URL)).context["form"]
    assert form["second_review_categories"].value() == "1"  # not "1, A"
    assert "UK CAID: A, B, C, NP" in form.fields["second_review_categories"].help_text
    demo_agency.settings = {"category_scheme": "uk_caid"}
    demo_agency.save()
    form = client_for(alice).get(reverse(URL)).context["form"]
    assert form["second_review_categories"].value() == "A"


def test_unchanged_default_codes_are_kept_as_stored(client_for, alice, demo_agency):
    response = client_for(alice).post(reverse(URL), _valid())
    assert response.status_code == 302
    demo_agency.refresh_from_db()
    assert demo_agency.settings == {}  # nothing written, nothing audited
    assert not events(demo_agency, "agency.settings_changed").exists()


@pytest.mark.parametrize(
    "scheme, codes, bad",
    [
        ("projectvic_us", "1, A", "A"),  # A is UK CAID's
        ("uk_caid", "A, 1", "1"),  # 1 is Project VIC's
        ("legacy", "5, NP", "NP"),
    ],
)
def test_second_review_codes_must_be_codes_of_the_chosen_scheme(
    client_for, alice, demo_agency, scheme, codes, bad
):
    response = client_for(alice).post(
        reverse(URL), _valid(category_scheme=scheme, second_review_categories=codes)
    )
    assert response.status_code == 400
    error = " ".join(response.context["form"].errors["second_review_categories"])
    assert f"scheme: {bad}." in error
    demo_agency.refresh_from_db()
    assert demo_agency.settings == {}


def test_second_review_codes_of_the_scheme_are_stored(client_for, alice, demo_agency):
    response = client_for(alice).post(
        reverse(URL), _valid(category_scheme="legacy", second_review_categories="1, 2")
    )
    assert response.status_code == 302
    demo_agency.refresh_from_db()
    assert demo_agency.policy.second_review_categories == ["1", "2"]


def test_upload_limit_is_entered_in_gib_stored_in_bytes_and_audited(client_for, alice, demo_agency):
    client = client_for(alice)
    page = client.get(reverse(URL)).content.decode()
    assert 'name="max_upload_gib"' in page and 'value="20"' in page
    assert "21474836480" not in page
    response = client.post(reverse(URL), _valid(max_upload_gib="1.5"))
    assert response.status_code == 302
    demo_agency.refresh_from_db()
    assert demo_agency.policy.max_upload_bytes == 1536 * 1024**2
    change = events(demo_agency, "agency.settings_changed").get().data["changes"]
    assert change["max_upload_bytes"] == {"old": 20 * GIB, "new": 1536 * 1024**2}
    assert client.get(reverse(URL)).context["form"]["max_upload_gib"].value() == "1.5"


def test_an_upload_limit_finer_than_the_form_survives_an_unchanged_save(
    client_for, alice, demo_agency
):
    demo_agency.settings = {"max_upload_bytes": 1_000_000_007}
    demo_agency.save()
    policy = demo_agency.policy
    response = client_for(alice).post(reverse(URL), _valid(policy))
    assert response.status_code == 302
    demo_agency.refresh_from_db()
    assert demo_agency.policy.max_upload_bytes == 1_000_000_007


def test_near_duplicate_distance_explains_the_reference_and_stays_within_0_to_64(client_for, alice):
    client = client_for(alice)
    form = client.get(reverse(URL)).context["form"]
    help_text = form.fields["near_duplicate_distance"].help_text
    assert "31" in help_text and "45" in help_text
    response = client.post(reverse(URL), _valid(near_duplicate_distance=65))
    assert response.status_code == 400


def test_invalid_submit_lists_every_field_to_correct_at_the_top(client_for, alice):
    response = client_for(alice).post(
        reverse(URL), _valid(lease_seconds=5, verification_sample_percent=101)
    )
    assert response.status_code == 400
    body = response.content.decode()
    summary = body[body.index('data-testid="error-summary"') :]
    summary = summary[: summary.index("</div>")]
    assert body.index('data-testid="error-summary"') < body.index('class="settings-form"')
    assert '<a href="#id_verification_sample_percent">' in summary
    assert '<a href="#id_lease_seconds">' in summary
    assert "2 settings need correcting" in summary
    # In the page's order, so the summary reads like the form.
    assert summary.index("id_verification_sample_percent") < summary.index("id_lease_seconds")


def test_valid_page_has_no_error_summary(client_for, alice):
    body = client_for(alice).get(reverse(URL)).content.decode()
    assert 'data-testid="error-summary"' not in body
