"""URL patterns of the exports area (included by triage/urls.py)."""

from django.urls import path

from triage.views import exports

urlpatterns = [
    path("cases/<uuid:case>/exports/", exports.export_list, name="export_list"),
    path("cases/<uuid:case>/exports/new/", exports.export_create, name="export_create"),
    path("exports/<uuid:export>/", exports.export_detail, name="export_detail"),
    path("exports/<uuid:export>/download/", exports.export_download, name="export_download"),
    path("exports/<uuid:export>/delete/", exports.export_delete, name="export_delete"),
]
