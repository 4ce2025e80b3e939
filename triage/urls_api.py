"""URL patterns of the api area (included by triage/urls.py, namespace ``triage``): the
versioned REST API under api/v1/ (exports included), its OpenAPI schema and docs, and the
token page."""

from django.urls import path

from triage.api import views as api
from triage.api.schema import SchemaView, api_docs
from triage.views import tokens

V1 = "api/v1/"

urlpatterns = [
    path(f"{V1}cases/", api.CaseListView.as_view(), name="api_cases"),
    path(f"{V1}cases/<uuid:case>/", api.CaseDetailView.as_view(), name="api_case"),
    path(f"{V1}cases/<uuid:case>/batches/", api.CaseBatchesView.as_view(), name="api_case_batches"),
    path(f"{V1}cases/<uuid:case>/items/", api.CaseItemsView.as_view(), name="api_case_items"),
    path(f"{V1}batches/", api.BatchListView.as_view(), name="api_batches"),
    path(f"{V1}batches/<uuid:batch>/", api.BatchDetailView.as_view(), name="api_batch"),
    path(f"{V1}batches/<uuid:batch>/files/", api.BatchFilesView.as_view(), name="api_batch_files"),
    path(
        f"{V1}batches/<uuid:batch>/submit/", api.BatchSubmitView.as_view(), name="api_batch_submit"
    ),
    path(f"{V1}batches/<uuid:batch>/items/", api.BatchItemsView.as_view(), name="api_batch_items"),
    path(f"{V1}items/<uuid:item>/", api.ItemDetailView.as_view(), name="api_item"),
    path(
        f"{V1}items/<uuid:item>/decisions/",
        api.ItemDecisionView.as_view(),
        name="api_item_decisions",
    ),
    path(f"{V1}lookup/", api.LookupView.as_view(), name="api_lookup"),
    path(f"{V1}hash-lists/", api.HashListListView.as_view(), name="api_hashlists"),
    path(
        f"{V1}hash-lists/<uuid:hashlist>/imports/",
        api.HashListImportView.as_view(),
        name="api_hashlist_imports",
    ),
    path(
        f"{V1}hash-lists/<uuid:hashlist>/imports/<uuid:hashimport>/",
        api.HashImportDetailView.as_view(),
        name="api_hashlist_import",
    ),
    path(
        f"{V1}hash-lists/<uuid:hashlist>/export/",
        api.HashListExportView.as_view(),
        name="api_hashlist_export",
    ),
    path(f"{V1}cases/<uuid:case>/exports/", api.CaseExportsView.as_view(), name="api_case_exports"),
    path(f"{V1}exports/<uuid:export>/", api.ExportDetailView.as_view(), name="api_export"),
    path(
        f"{V1}exports/<uuid:export>/download/",
        api.ExportDownloadView.as_view(),
        name="api_export_download",
    ),
    path("api/schema/", SchemaView.as_view(), name="api_schema"),
    path("api/docs/", api_docs, name="api_docs"),
    path("api-tokens/", tokens.api_tokens, name="api_tokens"),
    path("api-tokens/<uuid:token>/revoke/", tokens.api_token_revoke, name="api_token_revoke"),
]
