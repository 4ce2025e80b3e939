"""Celery tasks of the exports area. Thin: load by id, call a service."""

from __future__ import annotations

from celery import shared_task

__all__ = ["expire", "fixity_sweep", "run_export"]


@shared_task(name="triage.exports.run_export")
def run_export(job_id: int) -> None:
    from triage.exports.services import export_run

    export_run(job_id)


@shared_task(name="triage.exports.fixity_sweep")
def fixity_sweep() -> dict:
    """Periodic re-hash of every stored original (beat: daily)."""
    from triage.exports import fixity

    report = fixity.fixity_sweep()
    return {"checked": report.checked, "failed": len(report.failures)}


@shared_task(name="triage.exports.expire")
def expire() -> dict:
    """Delete the files of exports past their agency's retention (beat: hourly; hub-wide,
    see hub.db_scope.HUB_WIDE_TASKS)."""
    from triage.exports.services import expire_exports

    return {"expired": expire_exports()}
