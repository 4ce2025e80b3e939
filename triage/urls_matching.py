"""URL patterns of the matching area (included by triage/urls.py)."""

from django.urls import path

from triage.views import hashlists, lookup

urlpatterns = [
    path("hash-lists/", hashlists.hashlist_list, name="hashlist_list"),
    path("hash-lists/new/", hashlists.hashlist_create_view, name="hashlist_create"),
    path(
        "hash-lists/from-decisions/",
        hashlists.hashlist_from_decisions_view,
        name="hashlist_from_decisions",
    ),
    path("hash-lists/<uuid:hashlist>/", hashlists.hashlist_detail, name="hashlist_detail"),
    path("hash-lists/<uuid:hashlist>/edit/", hashlists.hashlist_edit, name="hashlist_edit"),
    path("hash-lists/<uuid:hashlist>/share/", hashlists.hashlist_share_view, name="hashlist_share"),
    path(
        "hash-lists/<uuid:hashlist>/tombstone/",
        hashlists.hashlist_tombstone_view,
        name="hashlist_tombstone",
    ),
    path("hash-lists/<uuid:hashlist>/import/", hashlists.hashlist_import, name="hashlist_import"),
    path("hash-lists/<uuid:hashlist>/export/", hashlists.hashlist_export, name="hashlist_export"),
    path("lookup/", lookup.lookup, name="lookup"),
]
