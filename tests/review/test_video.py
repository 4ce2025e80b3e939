"""Inline video for the review screen over HTTP: only through the authorised no-store view,
with Range requests so <video> can seek, an audit row per load, nothing for another agency
or for an item that is not a playable video."""

from __future__ import annotations

import pytest
from django.urls import reverse

from hub.models import AuditEvent
from tests.review.helpers import World
from triage.review.service import prioritise_items
from triage.review.views import parse_range

pytestmark = pytest.mark.django_db


def served(item) -> int:
    return AuditEvent.objects.filter(
        action="evidence.served", object_id=str(item.uuid), data__kind="video"
    ).count()


def url(item) -> str:
    return reverse("triage:review_video", kwargs={"item": item.uuid})


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_the_original_streams_inline_with_its_type_and_no_store(world, ivan, client_for):
    video = world.video(name="clip.webm")
    response = client_for(ivan).get(url(video))
    assert response.status_code == 200
    assert response["Content-Type"] == "video/webm"
    assert response["Content-Disposition"] == "inline"
    assert "no-store" in response["Cache-Control"] and response["Pragma"] == "no-cache"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Accept-Ranges"] == "bytes"
    content = body(response)
    assert len(content) == video.blob.size == int(response["Content-Length"])
    assert content[:4] == b"\x1a\x45\xdf\xa3"  # EBML: a WebM file
    assert served(video) == 1


def test_range_requests_let_the_player_seek_and_only_a_load_is_audited(world, ivan, client_for):
    video = world.video(name="clip.webm")
    size = video.blob.size
    client = client_for(ivan)
    whole = body(client.get(url(video)))
    first = client.get(url(video), HTTP_RANGE="bytes=0-99")
    assert first.status_code == 206
    assert first["Content-Range"] == f"bytes 0-99/{size}"
    assert body(first) == whole[:100] and first["Content-Length"] == "100"
    middle = client.get(url(video), HTTP_RANGE=f"bytes=200-{size + 1000}")
    assert middle.status_code == 206 and body(middle) == whole[200:]
    assert middle["Content-Range"] == f"bytes 200-{size - 1}/{size}"
    tail = client.get(url(video), HTTP_RANGE="bytes=-50")
    assert body(tail) == whole[-50:]
    beyond = client.get(url(video), HTTP_RANGE=f"bytes={size}-")
    assert beyond.status_code == 416 and beyond["Content-Range"] == f"bytes */{size}"
    # The whole file and the range from byte 0 are loads; seeks and tails are not.
    assert served(video) == 2


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", None),
        ("bytes=0-", (0, 999)),
        ("bytes=10-19", (10, 19)),
        ("bytes=990-5000", (990, 999)),
        ("bytes=-10", (990, 999)),
        ("bytes=-5000", (0, 999)),
        ("bytes=1000-", False),
        ("bytes=20-10", False),
        ("bytes=-0", False),
        ("bytes=0-1,5-9", None),  # several ranges: the whole file
        ("items=0-1", None),
    ],
)
def test_parse_range(header, expected):
    assert parse_range(header, 1000) == expected


def test_another_agency_gets_404_and_no_bytes(world, ivan, oscar, client_for):
    video = world.video(name="secret.webm")
    response = client_for(oscar).get(url(video), HTTP_RANGE="bytes=0-")
    assert response.status_code == 404
    assert served(video) == 0


def test_an_investigator_not_on_the_case_gets_404(demo_agency, sam, iris, ivan, client_for):
    theirs = World(demo_agency, user=sam, reference="NOT-MINE", team=(iris,))
    video = theirs.video(name="theirs.webm")
    assert client_for(ivan).get(url(video)).status_code == 404
    assert client_for(iris).get(url(video)).status_code == 200


def test_only_a_playable_video_is_served(world, ivan, client_for):
    image = world.item(name="still.png", thumb=True)
    assert client_for(ivan).get(url(image)).status_code == 404
    gif = world.item(name="anim.gif", media_kind="video", media_type="image/gif", data=b"GIF89a")
    assert client_for(ivan).get(url(gif)).status_code == 404


def test_the_review_panel_offers_muted_playback_through_the_view(world, ivan, client_for):
    video = world.video(name="clip.webm", classifier=0.9)
    prioritise_items([video])
    html = client_for(ivan).get(reverse("triage:review")).content.decode()
    assert "Keyframe contact sheet" in html and 'data-testid="play-video"' in html
    assert f'data-video-src="{url(video)}"' in html
    assert "original" not in html.split('data-video-src="')[1].split('"')[0]
