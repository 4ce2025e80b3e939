"""The evidence app's URLs, one module per area so each area owns its routes."""

from triage import (
    urls_api,
    urls_classifier,
    urls_dashboard,
    urls_exports,
    urls_intake,
    urls_matching,
    urls_review,
)

app_name = "triage"

urlpatterns = [
    *urls_intake.urlpatterns,
    *urls_matching.urlpatterns,
    *urls_classifier.urlpatterns,
    *urls_review.urlpatterns,
    *urls_dashboard.urlpatterns,
    *urls_api.urlpatterns,
    *urls_exports.urlpatterns,
]
