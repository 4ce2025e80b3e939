"""The cross-agency route walk (the contract is in tests/routes/__init__.py).

Every named URL pattern must be registered in exactly one ``tests/routes/<area>.py``. One
"world" of objects in Other Force is built per test module (inside a transaction rolled
back at the end; each test runs in a savepoint of it, so a POST that changes something is
undone before the next route). Each route is then called with each of its methods as
alice (admin), sam (supervisor), ivan (investigator) of Demo Police, as hugo (hub operator,
no agency) and logged out.

Optional per-module extension: ``OPERATOR_ALLOWED``, a set of route names the hub operator
(who has no agency) may use: personal pages such as home, or hub-wide objects such as
hub-wide hash lists. There the operator may get a 2xx when the URL names no object; an
Other Force object in the URL must still answer him 404."""

from __future__ import annotations

import importlib
import pkgutil
from types import SimpleNamespace
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.db import connections, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

import tests.routes as routes_pkg
from tests.conftest import login_as, make_user

SKIPPED_NAMESPACES = {"admin", "djdt"}
RANK = {"investigator": 1, "supervisor": 2, "admin": 3}


def url_names(patterns=None, namespace: str = "") -> set[str]:
    """Every named pattern of the root resolver, namespaced includes included."""
    names: set[str] = set()
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            ns = namespace
            if entry.namespace:
                if entry.namespace in SKIPPED_NAMESPACES:
                    continue
                ns = f"{namespace}{entry.namespace}:"
            names |= url_names(entry.url_patterns, ns)
        elif isinstance(entry, URLPattern) and entry.name:
            if entry.lookup_str.startswith("django.views.static"):
                continue
            names.add(f"{namespace}{entry.name}")
    return names


def route_modules() -> list:
    return [
        importlib.import_module(f"{routes_pkg.__name__}.{info.name}")
        for info in sorted(pkgutil.iter_modules(routes_pkg.__path__), key=lambda i: i.name)
        if not info.name.startswith("_")
    ]


def registry() -> tuple[dict, dict[str, list[str]], set[str]]:
    """(name -> Route, name -> modules registering it, names the operator may use)."""
    routes, owners, operator_allowed = {}, {}, set()
    for module in route_modules():
        for name, route in getattr(module, "ROUTES", {}).items():
            routes[name] = route
            owners.setdefault(name, []).append(module.__name__)
        operator_allowed |= set(getattr(module, "OPERATOR_ALLOWED", ()))
    return routes, owners, operator_allowed


ROUTES, OWNERS, OPERATOR_ALLOWED = registry()
WALKED = sorted(set(ROUTES) & url_names())


def test_every_route_is_registered():
    missing = sorted(url_names() - set(ROUTES))
    assert not missing, (
        "These URL names are not registered in any tests/routes/<area>.py ROUTES: "
        + ", ".join(missing)
    )


def test_every_route_is_registered_once_and_exists():
    duplicated = {name: mods for name, mods in OWNERS.items() if len(mods) > 1}
    assert not duplicated, f"Registered in more than one module: {duplicated}"
    unknown = sorted(set(ROUTES) - url_names())
    assert not unknown, f"Registered but no such URL name (typo or removed): {unknown}"


# --- The world ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    from hub.models import Agency, Role

    with django_db_blocker.unblock():
        atomics = {alias: transaction.atomic(using=alias) for alias in connections}
        for atomic in atomics.values():
            atomic.__enter__()
        try:
            demo = Agency.objects.create(name="Demo Police", slug="demo-police")
            other = Agency.objects.create(name="Other Force", slug="other-force")
            w = SimpleNamespace(agency=other, admin=make_user("otto", other, Role.ADMIN))
            w.callers = {
                "alice": make_user("alice", demo, Role.ADMIN),
                "sam": make_user("sam", demo, Role.SUPERVISOR),
                "ivan": make_user("ivan", demo, Role.INVESTIGATOR),
                "hugo": make_user("hugo", None, None, is_hub_operator=True),
            }
            for module in route_modules():
                build = getattr(module, "build", None)
                if build is not None:
                    build(w)
            yield w
        finally:
            for alias, atomic in atomics.items():
                transaction.set_rollback(True, using=alias)
                atomic.__exit__(None, None, None)


ROLE_OF = {"alice": "admin", "sam": "supervisor", "ivan": "investigator", "hugo": "operator"}


def _location(response) -> str:
    return urlparse(response.get("Location", "")).path


def _redirects_to_login(response) -> bool:
    return 300 <= response.status_code < 400 and _location(response).startswith(
        settings.LOGIN_URL_PATH
    )


def _redirects_away_without_agency(response) -> bool:
    """The operator has no agency: agency pages send him home (or to a login step)."""
    return 300 <= response.status_code < 400 and (
        _location(response) == reverse("hub:home")
        or _location(response).startswith(settings.LOGIN_URL_PATH)
    )


def _below(caller: str, route) -> bool:
    if route.role == "operator":
        return caller != "hugo"
    return caller == "hugo" or RANK[ROLE_OF[caller]] < RANK[route.role]


def _call(client: Client, method: str, url: str):
    if method == "GET":
        return client.get(url)
    if method == "POST":
        return client.post(url, {})
    return client.generic(method, url)


def _verdict(name: str, route, caller: str | None, response) -> str | None:
    """None when the response obeys the contract, else why not."""
    status = response.status_code
    if status >= 500:
        return f"server error {status}"
    if caller is None:
        if route.api and status in (401, 403):
            return None
        if _redirects_to_login(response) or status == 405:
            return None
        return f"logged out got {status} {_location(response)!r}, expected a redirect to login"
    if caller == "hugo" and name in OPERATOR_ALLOWED:
        if route.kwargs is None or status in (403, 404, 405):
            return None
        return f"the operator reached another agency's object: {status}, not 404"
    if _below(caller, route):
        if status in (403, 404, 405):
            return None
        if caller == "hugo" and _redirects_away_without_agency(response):
            return None
        return f"below the route's role ({route.role}) but got {status} {_location(response)!r}"
    if route.kwargs is not None and route.role != "operator":
        if status in (403, 404, 405):
            return None
        return f"another agency's object answered {status} {_location(response)!r}, not 404"
    return None  # at or above the role, no foreign object: only "no server error"


@pytest.mark.parametrize("name", WALKED)
def test_route_walk(name, world, db):
    route = ROUTES[name]
    if route.public:
        pytest.skip("public route: not walked for isolation")
    url = reverse(name, kwargs=route.kwargs(world) if route.kwargs else None)
    problems = []
    callers = [*world.callers, None]
    for method in route.methods:
        for caller in callers:
            client = Client()
            if caller is not None:
                login_as(client, world.callers[caller])
            response = _call(client, method, url)
            problem = _verdict(name, route, caller, response)
            if problem:
                problems.append(f"{method} {url} as {caller or 'logged out'}: {problem}")
    assert not problems, "\n".join(problems)
