"""What the pages say and link to, as personas: the way into a case's review, what the
batch page claims about matching, the operator's navigation, error pages that do not
reveal another agency's objects, and confirmations before destructive actions."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from triage.models import ItemStatus, KnownState, ReviewState

pytestmark = pytest.mark.django_db


def case_page(case):
    return reverse("triage:case_detail", kwargs={"case": case.uuid})


def review_url(case):
    return reverse("triage:review_case", kwargs={"case": case.uuid})


def batch_page(batch):
    return reverse("triage:batch_detail", kwargs={"batch": batch.uuid})


def known_cells(html: str) -> dict[str, str]:
    """Path -> the visible text of its Known cell in the batch items table."""
    html = html[html.index('data-testid="batch-items"') :]
    rows = re.findall(
        r'<td class="path"><a [^>]*>([^<]+)</a></td>.*?data-testid="known-cell">(.*?)</td>',
        html,
        re.S,
    )
    return {path: re.sub(r"<[^>]+>", "", cell).strip() for path, cell in rows}


# --- 1. the way into a case's review -------------------------------------------------


def test_case_page_offers_the_review_of_its_waiting_items(client_for, ivan, case, make_item):
    make_item("a.jpg", status=ItemStatus.DONE, review_state=ReviewState.QUEUED)
    make_item("b.jpg", status=ItemStatus.DONE, review_state=ReviewState.QUEUED)
    make_item("c.jpg", status=ItemStatus.DONE, review_state=ReviewState.REVIEWED)
    html = client_for(ivan).get(case_page(case)).content.decode()
    link = re.search(r'<a class="btn"[^>]*data-testid="review-case-link"[^>]*>([^<]*)</a>', html)
    assert link, "no primary review action on the case page"
    assert f'href="{review_url(case)}"' in link.group(0)
    assert link.group(1) == "Review this case (2 waiting)"
    # The "Awaiting review" figure opens the same review.
    tile = re.search(r'<a class="stat stat-link" href="([^"]+)" data-testid="awaiting-tile">', html)
    assert tile and tile.group(1) == review_url(case)
    assert client_for(ivan).get(review_url(case)).status_code == 200


def test_no_review_action_without_waiting_items_or_on_a_closed_case(
    client_for, ivan, sam, case, make_item
):
    make_item("a.jpg", status=ItemStatus.DONE, review_state=ReviewState.REVIEWED)
    html = client_for(ivan).get(case_page(case)).content.decode()
    assert review_url(case) not in html

    make_item("b.jpg", status=ItemStatus.DONE, review_state=ReviewState.QUEUED)
    case.is_closed = True
    case.save(update_fields=["is_closed"])
    # A closed case has left the review queue: offering its review would show nothing.
    html = client_for(sam).get(case_page(case)).content.decode()
    assert review_url(case) not in html
    assert "Awaiting review (case closed)" in html


def test_case_list_awaiting_figure_links_to_the_case_review(client_for, sam, case, make_item):
    make_item("a.jpg", status=ItemStatus.DONE, review_state=ReviewState.QUEUED)
    html = client_for(sam).get(reverse("triage:case_list")).content.decode()
    cell = re.search(
        rf'<a href="{review_url(case)}" data-testid="review-case-link"[^>]*>(.*?)</a>', html
    )
    assert cell and "<strong>1</strong>" in cell.group(1)


def test_batch_page_links_to_the_case_review_once_items_are_queued(
    client_for, ivan, batch, make_item
):
    item = make_item("a.jpg", status=ItemStatus.RUNNING, stage="@match")
    client = client_for(ivan)
    assert review_url(batch.case) not in client.get(batch_page(batch)).content.decode()
    item.status, item.stage, item.review_state = ItemStatus.DONE, "prioritise", ReviewState.QUEUED
    item.save()
    html = client.get(batch_page(batch)).content.decode()
    assert re.search(
        rf'href="{review_url(batch.case)}" data-testid="review-case-link">Review this case<', html
    )
    # The live progress fragment carries it too, so it appears while the batch runs.
    fragment = client.get(reverse("triage:batch_progress", kwargs={"batch": batch.uuid}))
    assert review_url(batch.case) in fragment.content.decode()


# --- 2. what the batch page claims ---------------------------------------------------


def test_known_column_says_not_checked_until_the_match_stage_ran(
    client_for, ivan, batch, make_item
):
    make_item("waiting.jpg")  # pending, nothing run yet
    make_item("hashing.jpg", status=ItemStatus.RUNNING, stage="@match")
    make_item("between-hops.jpg", status=ItemStatus.RUNNING, stage="match")
    make_item("classifying.jpg", status=ItemStatus.RUNNING, stage="@classify")
    make_item("done.jpg", status=ItemStatus.DONE, stage="prioritise")
    make_item("broken.jpg", status=ItemStatus.FAILED, stage="@media", failure_reason="corrupt")
    make_item("known.jpg", status=ItemStatus.DONE, stage="prioritise", known_state=KnownState.EXACT)
    cells = known_cells(client_for(ivan).get(batch_page(batch)).content.decode())
    assert cells["waiting.jpg"] == "— not checked yet"
    assert cells["hashing.jpg"] == "— not checked yet"
    assert cells["broken.jpg"] == "— not checked"
    for checked in ("between-hops.jpg", "classifying.jpg", "done.jpg"):
        assert cells[checked] == "No known match", checked
    assert cells["known.jpg"] == "Exact known match"


def test_progress_counts_known_matches_and_scored_items_only(client_for, ivan, batch, make_item):
    done = {"status": ItemStatus.DONE, "stage": "prioritise"}
    make_item("phone.zip", media_kind="archive", **done)
    make_item("phone.zip/readme.txt", media_kind="other", **done)
    make_item("phone.zip/a.jpg", media_kind="image", classifier_score=0.2, **done)
    make_item("b.jpg", media_kind="image", classifier_score=0.9, known_state="near", **done)
    make_item("c.jpg", media_kind="image", classifier_score=0.1, known_state="exact", **done)
    html = client_for(ivan).get(batch_page(batch)).content.decode()
    counts = dict(re.findall(r'<dt>([^<]+)</dt><dd data-count="\w+">(\d+)</dd>', html))
    assert counts["Hash-checked"] == "5"  # passed the match stage, whatever the answer
    assert counts["Known matches"] == "2"  # exact + near
    assert counts["Classifier-scored"] == "3"  # not the zip nor the text file
    assert "<dt>Matched</dt>" not in html and "<dt>Classified</dt>" not in html


# --- 7. case summary: items, not hash hits ---------------------------------------------


def test_summary_counts_items_not_algorithms(client_for, sam, alice, demo_agency, case, make_item):
    from triage.matching.lists import hashlist_create
    from triage.models import HashEntry, Match

    item = make_item("x.jpg", status=ItemStatus.DONE, known_state=KnownState.EXACT)
    listed = hashlist_create(agency=demo_agency, user=alice, name="Known images of a long name")
    entry = HashEntry.objects.create(hash_list=listed, md5="a" * 32, sha1="b" * 40, category="1")
    for algorithm in ("md5", "sha1", "sha256"):
        Match.objects.create(item=item, entry=entry, hash_list=listed, algorithm=algorithm)
    response = client_for(sam).get(reverse("triage:case_summary", kwargs={"case": case.uuid}))
    (row,) = response.context["matches"]
    assert (row["items"], row["exact"], row["near_only"]) == (1, 1, 0)
    assert [a["label"] for a in row["by_algorithm"]] == ["MD5", "SHA-1", "SHA-256"]
    assert 'data-testid="matched-items">1<' in response.content.decode()


# --- 3. the operator's navigation ---------------------------------------------------


def _nav_links(html: str) -> dict[str, str]:
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', html, re.S).group(1)
    return {label: href for href, label in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', nav)}


def test_operator_finds_hub_hash_lists_and_models(client_for, hugo):
    client = client_for(hugo)
    links = _nav_links(client.get(reverse("hub:home")).content.decode())
    assert links.get("Hash lists") == reverse("triage:hashlist_list")
    assert links.get("Models") == reverse("triage:model_list")
    for url in (links["Hash lists"], links["Models"]):
        assert client.get(url).status_code == 200, url


def test_operator_in_an_agency_gets_no_entry_that_would_403(client_for, hugo, demo_agency):
    from hub.models import Membership, Role

    Membership.objects.create(user=hugo, agency=demo_agency, role=Role.INVESTIGATOR)
    client = client_for(hugo)
    links = _nav_links(client.get(reverse("hub:home")).content.decode())
    assert "Hash lists" not in links and "Models" not in links
    assert "Agencies" in links  # the Hub group is still there


# --- 4. error pages -------------------------------------------------------------------


def _without_tokens(html: str) -> str:
    """The page without its per-response CSRF tokens (masked anew on every render)."""
    html = re.sub(r'"X-CSRFToken": "[^"]*"', "", html)
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)


def test_404_is_the_same_for_missing_and_another_agencys_case(
    client_for, alice, iris, case, other_case
):
    import uuid

    client = client_for(alice)
    missing = client.get(reverse("triage:case_detail", kwargs={"case": uuid.uuid4()}))
    foreign = client.get(case_page(other_case))
    assert missing.status_code == foreign.status_code == 404
    assert "This page is not available" in missing.content.decode()
    assert _without_tokens(missing.content.decode()) == _without_tokens(foreign.content.decode())
    assert "OF-7" not in foreign.content.decode()
    # A case of one's own agency that one is not on reads the same, too.
    hidden = client_for(iris).get(case_page(case))
    assert hidden.status_code == 404 and "This page is not available" in hidden.content.decode()


def test_403_page_explains_and_links_home(client_for, ivan):
    response = client_for(ivan).get(reverse("hub:agency_users"))
    html = response.content.decode()
    assert response.status_code == 403
    assert "You do not have permission to do this" in html
    assert f'href="{reverse("hub:home")}"' in html and "Triage Hub" in html


def test_404_for_someone_logged_out_offers_the_login(client):
    html = client.get("/no-such-page/").content.decode()
    assert "This page is not available" in html and f'href="{reverse("hub:login")}"' in html


def test_500_page_renders_without_a_request():
    from django.template import loader

    html = loader.get_template("500.html").render({})
    assert "Something went wrong" in html and 'href="/"' in html


# --- 5. confirmation before destructive actions ----------------------------------------


def _confirm_of(html: str, action: str) -> str | None:
    form = re.search(rf'<form method="post" action="{re.escape(action)}"[^>]*>', html, re.S)
    assert form, action
    found = re.search(r'data-confirm="([^"]+)"', form.group(0))
    return found.group(1) if found else None


def test_close_case_asks_first(client_for, sam, case):
    html = client_for(sam).get(case_page(case)).content.decode()
    question = _confirm_of(html, reverse("triage:case_close", kwargs={"case": case.uuid}))
    assert question and "Close case DP-100?" in question


def test_hash_list_tombstone_and_sharing_ask_first(client_for, alice, demo_agency, other_agency):
    from triage.matching.lists import hashlist_create

    listed = hashlist_create(agency=demo_agency, user=alice, name="Ours")
    html = (
        client_for(alice)
        .get(reverse("triage:hashlist_detail", kwargs={"hashlist": listed.uuid}))
        .content.decode()
    )
    for name in ("triage:hashlist_tombstone", "triage:hashlist_share"):
        assert _confirm_of(html, reverse(name, kwargs={"hashlist": listed.uuid})), name


# --- 6. the hash list page --------------------------------------------------------------


def test_hash_list_page_labels_and_categories(client_for, alice, demo_agency):
    from triage.matching.lists import hashlist_create
    from triage.models import HashEntry

    listed = hashlist_create(agency=demo_agency, user=alice, name="Ours")
    HashEntry.objects.create(hash_list=listed, md5="c" * 32, category="2")
    html = (
        client_for(alice)
        .get(reverse("triage:hashlist_detail", kwargs={"hashlist": listed.uuid}))
        .content.decode()
    )
    assert "PDQ match distance (bits, reference 31)" in html
    assert "PDQ minimum quality" in html and "Pdq quality min" not in html
    assert re.search(r'<input type="search" id="q" name="q"', html)
    # Project VIC US, as the agency: code and label.
    assert '<code class="category-code">2</code> Child exploitive / age difficult' in html
    # A checkbox sits inside its label.
    assert re.search(r'<label for="id_is_active"><input type="checkbox"', html)


# --- 9. favicon -------------------------------------------------------------------------


def test_favicon_is_linked_and_served(client_for, ivan, client):
    html = client_for(ivan).get(reverse("hub:home")).content.decode()
    assert re.search(r'<link rel="icon" href="/static/favicon.svg"', html)
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == "/static/favicon.ico"


def test_a_get_on_a_post_only_address_gets_a_page_and_the_api_keeps_its_answer(client_for, ivan):
    client = client_for(ivan)
    response = client.get(reverse("triage:review_preferences"))  # POST only
    assert response.status_code == 405 and "POST" in response["Allow"]
    assert 'data-testid="error-405"' in response.content.decode()
    api = client.get("/api/v1/auth/whoami/")  # any API 405 or 404 stays as the API answers
    assert b"error-405" not in api.content


def test_an_operator_without_an_agency_is_told_why_an_agency_page_sends_him_home(client_for, hugo):
    response = client_for(hugo).get(reverse("hub:audit_log"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("hub:home")
    assert "belongs to an agency and you have none" in response.content.decode()
