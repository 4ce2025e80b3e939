"""Celery discovers tasks here; each area keeps its own tasks module."""

from triage.classifier.tasks import *  # noqa: F403
from triage.dashboard.tasks import *  # noqa: F403
from triage.exports.tasks import *  # noqa: F403
from triage.matching.tasks import *  # noqa: F403
from triage.pipeline.tasks import *  # noqa: F403
from triage.review.tasks import *  # noqa: F403
