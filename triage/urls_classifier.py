"""URL patterns of the classifier area (included by triage/urls.py)."""

from django.urls import path

from triage.views import models

urlpatterns: list = [
    path("models/", models.model_list, name="model_list"),
    path("models/register/", models.model_register_view, name="model_register"),
    path("models/<uuid:model>/toggle/", models.model_toggle, name="model_toggle"),
    path("models/<uuid:model>/calibration/", models.model_calibration, name="model_calibration"),
]
