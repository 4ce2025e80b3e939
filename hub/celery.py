"""The Celery application. Tasks are thin: they load by id and call a service."""

from __future__ import annotations

import os

from celery import Celery, signals
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")

app = Celery("hub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    # Intake and inference run on separate queues so a slow model never starves intake.
    task_default_queue="intake",
    task_queues=(Queue("intake"), Queue("inference"), Queue("maintenance")),
    task_routes={
        "triage.classify.*": {"queue": "inference"},
        "triage.maintenance.*": {"queue": "maintenance"},
        # Export building and re-hashing originals never hold up intake.
        "triage.exports.*": {"queue": "maintenance"},
        "triage.dashboard.*": {"queue": "maintenance"},
    },
    beat_schedule={
        "reconcile-stuck-items": {"task": "triage.maintenance.reconcile", "schedule": 60.0},
        "fixity-sweep": {"task": "triage.exports.fixity_sweep", "schedule": 24 * 3600.0},
        # Exports past their agency's export_retention_days lose their files. Like the
        # rollup below, a missed run is no loss: the next one catches up.
        "expire-exports": {
            "task": "triage.exports.expire",
            "schedule": 3600.0,
            "options": {"expires": 3600.0},
        },
        "release-expired-leases": {
            "task": "triage.review.release_expired_leases",
            "schedule": 300.0,
        },
        # The dashboard rollup's deltas folded in (triage/dashboard/rollup.py). A missed
        # run is no loss (the next one folds everything): never queue them up.
        "compact-dashboard-rollup": {
            "task": "triage.dashboard.compact_rollup",
            "schedule": 60.0,
            "options": {"expires": 60.0},
        },
    },
)
app.autodiscover_tasks(["triage"])


@signals.worker_init.connect
def _arm_row_level_security(**kwargs):
    from hub import db_scope

    db_scope.arm()


@signals.before_task_publish.connect
def _carry_scope(headers=None, **kwargs):
    from hub import db_scope

    db_scope.on_before_publish(headers=headers)


@signals.task_prerun.connect
def _enter_scope(task_id=None, task=None, **kwargs):
    from hub import db_scope

    db_scope.on_task_prerun(task_id=task_id, task=task)


@signals.task_postrun.connect
def _leave_scope(task_id=None, **kwargs):
    from hub import db_scope

    db_scope.on_task_postrun(task_id=task_id)
