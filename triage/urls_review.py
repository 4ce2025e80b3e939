"""URL patterns of the review area (included by triage/urls.py)."""

from django.urls import path

from triage.review import views as review_views
from triage.views import review

urlpatterns = [
    path("review/", review.review, name="review"),
    path("review/case/<uuid:case>/", review.review_case, name="review_case"),
    path("review/conflicts/", review.review_conflicts, name="review_conflicts"),
    path("review/preferences/", review.review_preferences, name="review_preferences"),
    path("review/items/<uuid:item>/decide/", review.review_decide, name="review_decide"),
    path("review/items/<uuid:item>/group/", review.review_group, name="review_group"),
    path("review/items/<uuid:item>/split/", review.review_split, name="review_split"),
    path("review/items/<uuid:item>/exposure/", review.review_exposure, name="review_exposure"),
    path("review/items/<uuid:item>/video/", review_views.review_video, name="review_video"),
    path(
        "review/items/<uuid:item>/add-to-list/",
        review.review_add_to_list,
        name="review_add_to_list",
    ),
    path("review/decisions/<uuid:decision>/undo/", review.review_undo, name="review_undo"),
]
