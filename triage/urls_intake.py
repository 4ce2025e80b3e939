"""URL patterns of the intake area (included by triage/urls.py)."""

from django.urls import path

from triage.views import batches, cases, evidence, items

urlpatterns = [
    path("cases/", cases.case_list, name="case_list"),
    path("cases/new/", cases.case_create, name="case_create"),
    path("cases/<uuid:case>/", cases.case_detail, name="case_detail"),
    path("cases/<uuid:case>/edit/", cases.case_edit, name="case_edit"),
    path("cases/<uuid:case>/upload/", batches.batch_upload, name="batch_upload"),
    path("batches/<uuid:batch>/", batches.batch_detail, name="batch_detail"),
    path("batches/<uuid:batch>/progress/", batches.batch_progress, name="batch_progress"),
    path("items/<uuid:item>/", items.item_detail, name="item_detail"),
    path("items/<uuid:item>/thumb/<str:kind>/", evidence.item_thumb, name="item_thumb"),
    path("items/<uuid:item>/original/", evidence.item_original, name="item_original"),
]
