import pytest
from django.urls import reverse

from hub.forms import AgencySettingsForm
from hub.policy import AgencyPolicy
from tests.hub.helpers import events

pytestmark = pytest.mark.django_db


def _valid(**changes):
    data = AgencySettingsForm.initial_for(AgencyPolicy())
    data = {k: v for k, v in data.items() if v is not False}  # unchecked boxes are absent
    data = {k: ("on" if v is True else v) for k, v in data.items()}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_page_shows_every_policy_field(client_for, alice):
    response = client_for(alice).get(reverse("hub:agency_settings"))
    assert response.status_code == 200
    for name in (
        "category_scheme",
        "weight_classifier",
        "verification_sample_percent",
        "second_review_categories",
        "blur_default",
        "grayscale_default",
        "exposure_guideline_reveals_per_day",
        "break_reminder_after_reveals",
        "lease_seconds",
        "undo_seconds",
        "max_upload_gib",
        "retention_days",
    ):
        assert f'name="{name}"'.encode() in response.content, name


def test_unchanged_form_changes_nothing(client_for, alice, demo_agency):
    response = client_for(alice).post(reverse("hub:agency_settings"), _valid())
    assert response.status_code == 302
    assert not events(demo_agency, "agency.settings_changed").exists()


def test_changes_are_stored_and_audited_with_old_and_new(client_for, alice, demo_agency):
    response = client_for(alice).post(
        reverse("hub:agency_settings"),
        _valid(
            category_scheme="uk_caid",
            second_review_categories="A, B",
            lease_seconds=600,
            weight_classifier=75,
            blur_default=None,
        ),
    )
    assert response.status_code == 302
    demo_agency.refresh_from_db()
    policy = demo_agency.policy
    assert policy.category_scheme == "uk_caid"
    assert policy.second_review_categories == ["A", "B"]
    assert policy.lease_seconds == 600 and policy.weights.classifier == 75
    assert policy.blur_default is False
    changes = events(demo_agency, "agency.settings_changed").get().data["changes"]
    assert changes["lease_seconds"] == {"old": 300, "new": 600}
    assert changes["blur_default"] == {"old": True, "new": False}
    assert changes["weights"]["old"]["classifier"] == 60.0
    assert changes["weights"]["new"]["classifier"] == 75.0
    assert "undo_seconds" not in changes


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"lease_seconds": 5}, "lease_seconds"),
        ({"verification_sample_percent": 101}, "verification_sample_percent"),
        ({"second_review_categories": "1, Z"}, "second_review_categories"),
        ({"category_scheme": "custom", "custom_categories": "X=only one"}, "custom_categories"),
        ({"category_scheme": "custom", "custom_categories": "no equals sign"}, "custom_categories"),
        ({"retention_days": -1}, "retention_days"),
    ],
)
def test_invalid_values_are_refused(client_for, alice, demo_agency, changes, field):
    response = client_for(alice).post(reverse("hub:agency_settings"), _valid(**changes))
    assert response.status_code == 400
    assert field in response.context["form"].errors
    demo_agency.refresh_from_db()
    assert demo_agency.settings == {}


def test_custom_scheme(client_for, alice, demo_agency):
    client_for(alice).post(
        reverse("hub:agency_settings"),
        _valid(
            category_scheme="custom",
            custom_categories="P=Pertinent\nN=Not pertinent",
            second_review_categories="P",
        ),
    )
    demo_agency.refresh_from_db()
    assert demo_agency.policy.categories == [("P", "Pertinent"), ("N", "Not pertinent")]


def test_admin_only(client_for, sam, demo_agency):
    assert client_for(sam).get(reverse("hub:agency_settings")).status_code == 403
    response = client_for(sam).post(reverse("hub:agency_settings"), _valid(lease_seconds=900))
    assert response.status_code == 403
    demo_agency.refresh_from_db()
    assert demo_agency.settings == {}


def test_the_non_pertinent_near_match_weight_is_an_agency_setting(client_for, alice, demo_agency):
    form = client_for(alice).get(reverse("hub:agency_settings")).content.decode()
    assert 'name="weight_near_match_non_pertinent"' in form
    response = client_for(alice).post(
        reverse("hub:agency_settings"), _valid(weight_near_match_non_pertinent=12.5)
    )
    assert response.status_code == 302
    demo_agency.refresh_from_db()
    assert demo_agency.policy.weights.near_match_non_pertinent == 12.5
    changes = events(demo_agency, "agency.settings_changed").get().data["changes"]
    assert changes["weights"]["new"]["near_match_non_pertinent"] == 12.5
