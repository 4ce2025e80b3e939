"""CSRF everywhere: every route of the registry (tests/routes/, the same one the
cross-agency walk uses) refuses POST, PUT, PATCH and DELETE that carry no CSRF token, even
from a browser that holds a valid session and a CSRF cookie.

The caller is the one the route is meant for, so the refusal can only come from the CSRF
check and not from tenancy or role checks: Other Force's admin (the world's objects are
Other Force's) or the hub operator for operator routes; public routes (login, invitation)
are called logged out. A control request with the token shows, for every route, that the
same request is then *not* refused for CSRF, so the test notices a broken check."""

from __future__ import annotations

import secrets
import string

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.conftest import login_as
from tests.test_route_walk import ROUTES, WALKED, world  # noqa: F401 - fixture

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
ALPHABET = string.ascii_letters + string.digits


def _csrf_cookie() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(32))


def _caller(route, w):
    if route.public:
        return None
    if route.role == "operator":
        return w.callers["hugo"]
    return w.admin


def _client(route, w, cookie: str) -> Client:
    client = Client(enforce_csrf_checks=True)
    caller = _caller(route, w)
    if caller is not None:
        login_as(client, caller)
    client.cookies[settings.CSRF_COOKIE_NAME] = cookie
    return client


def _send(client, method: str, url: str, content_type: str = "form", **extra):
    """A form post (what another site's form sends) or a JSON body."""
    if content_type == "form" and method == "POST":
        return client.post(url, {}, **extra)
    if content_type == "form":
        return client.generic(
            method, url, b"a=1", content_type="application/x-www-form-urlencoded", **extra
        )
    return client.generic(method, url, b"{}", content_type="application/json", **extra)


def _refused_for_csrf(response) -> bool:
    return response.status_code == 403 and b"CSRF" in response.content


# CSRF does not depend on the database: walked once, in the SQLite run.
pytestmark = pytest.mark.db_independent


@pytest.mark.parametrize("name", WALKED)
def test_unsafe_methods_without_a_token_are_refused(name, world, db):  # noqa: F811
    route = ROUTES[name]
    url = reverse(name, kwargs=route.kwargs(world) if route.kwargs else None)
    cookie = _csrf_cookie()
    problems = []
    # The API reads the body while it checks CSRF, so a body it cannot parse is a 415
    # first (also a refusal); each API route must refuse at least one body type for CSRF.
    bodies = ("form", "json") if route.api else ("form",)
    # One browser for every refused request: none of them may change anything (if one
    # passes, the test fails anyway).
    browser = _client(route, world, cookie)
    for method in UNSAFE:
        answers = [_send(browser, method, url, body) for body in bodies]
        csrf = [r for r in answers if _refused_for_csrf(r)]
        others = [r.status_code for r in answers if not _refused_for_csrf(r)]
        if csrf and all(code == 415 for code in others):
            continue
        if not csrf and method not in route.methods and set(others) == {405}:
            # A method the route does not take is refused before it is read (only the
            # upload view, which checks CSRF itself after installing its upload handlers,
            # answers 405 first); no state can change.
            continue
        problems.append(f"{method} {url} without a token: {others}")
    # Control: with the token (header, as htmx and fetch send it) the same POST passes
    # the CSRF check, so the refusals above are the CSRF check's and nothing else's.
    for body in bodies:
        control = _send(_client(route, world, cookie), "POST", url, body, HTTP_X_CSRFTOKEN=cookie)
        if _refused_for_csrf(control):
            problems.append(f"POST {url} WITH a token was refused for CSRF: the check is broken")
    assert not problems, "\n".join(problems)


def test_a_token_from_another_session_does_not_pass(client, db):
    """The token must match this browser's cookie, not merely look like a token."""
    strict = Client(enforce_csrf_checks=True)
    strict.cookies[settings.CSRF_COOKIE_NAME] = _csrf_cookie()
    response = strict.post(reverse("hub:login"), {}, HTTP_X_CSRFTOKEN=_csrf_cookie())
    assert _refused_for_csrf(response)
