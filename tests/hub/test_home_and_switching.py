import pytest
from django.urls import reverse

from hub.models import Agency, Membership, Role
from hub.services import invitation_create
from tests.hub.helpers import events

pytestmark = pytest.mark.django_db


def test_investigator_home(client_for, ivan):
    response = client_for(ivan).get(reverse("hub:home"))
    assert b'data-testid="card-work"' in response.content
    assert b'data-testid="card-backlog"' not in response.content
    assert b'data-testid="card-admin"' not in response.content


def test_supervisor_home_has_a_backlog_teaser(client_for, sam):
    response = client_for(sam).get(reverse("hub:home"))
    assert b'data-testid="card-backlog"' in response.content
    assert b"Nothing is waiting for review" in response.content
    assert b'data-testid="card-admin"' not in response.content


def test_admin_home_says_what_to_do_next(client_for, alice, demo_agency):
    response = client_for(alice).get(reverse("hub:home"))
    assert b'data-testid="card-admin"' in response.content
    assert b"Invite your colleagues" in response.content  # alone in the agency
    invitation_create(agency=demo_agency, email="x@y.test", role=Role.INVESTIGATOR, actor=alice)
    response = client_for(alice).get(reverse("hub:home"))
    assert b"1 open invitation" in response.content
    assert b"Invite your colleagues" not in response.content


def test_operator_home(client_for, hugo):
    response = client_for(hugo).get(reverse("hub:home"))
    assert b"Create the first agency" in response.content
    Agency.objects.create(name="A", slug="a")
    response = client_for(hugo).get(reverse("hub:home"))
    assert b"1 agency" in response.content
    assert reverse("hub:operator_agencies").encode() in response.content


def test_user_without_agency(client_for, demo_agency, ivan):
    Membership.objects.filter(user=ivan).update(is_active=False)
    response = client_for(ivan).get(reverse("hub:home"))
    assert b"not a member of any agency" in response.content


@pytest.fixture
def two_agency_admin(alice, other_agency):
    Membership.objects.create(user=alice, agency=other_agency, role=Role.ADMIN)
    return alice


def _admin_pages():
    return [
        reverse(n) for n in ("hub:home", "hub:agency_users", "hub:agency_settings", "hub:audit_log")
    ]


def test_switching_agency_changes_every_page(client_for, two_agency_admin, other_agency):
    client = client_for(two_agency_admin)
    for url in _admin_pages():
        page = client.get(url)
        assert page.status_code == 200, url
        assert b"Working in <strong>Demo Police</strong>" in page.content, url
    response = client.post(reverse("hub:switch_agency"), {"agency": str(other_agency.uuid)})
    assert response.status_code == 302
    for url in _admin_pages():
        page = client.get(url)
        assert b"Working in <strong>Other Force</strong>" in page.content, url
    # The Users page now lists Other Force's members only.
    users = client.get(reverse("hub:agency_users")).content
    assert b"member-alice" in users
    assert events(other_agency, "agency.switched").get().actor == two_agency_admin


def test_switcher_lists_both_agencies(client_for, two_agency_admin):
    page = client_for(two_agency_admin).get(reverse("hub:home")).content
    assert b'id="agency-switch"' in page
    assert page.count(b"<option value=") >= 2


def test_cannot_switch_to_an_agency_one_is_not_in(client_for, ivan, other_agency):
    client = client_for(ivan)
    response = client.post(reverse("hub:switch_agency"), {"agency": str(other_agency.uuid)})
    assert response.status_code == 404
    response = client.post(reverse("hub:switch_agency"), {"agency": "not-a-uuid"})
    assert response.status_code == 404
    assert b"Demo Police" in client.get(reverse("hub:home")).content


def test_password_only_session_does_not_show_the_agency_or_nav(client, ivan):
    from tests.hub.helpers import post_login

    post_login(client, "ivan")
    page = client.get(reverse("hub:login_otp")).content
    assert b"Demo Police" not in page
    assert b'aria-label="Main"' not in page
