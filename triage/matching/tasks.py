"""Celery tasks of the matching area. Thin: load by id, call a service."""

from __future__ import annotations

from celery import shared_task

__all__ = ["rematch_chunk", "rematch_start", "run_import"]


@shared_task(name="triage.matching.run_import")
def run_import(hash_import_id: int) -> None:
    from triage.matching.importers import hashimport_run

    hashimport_run(hash_import_id)


@shared_task(name="triage.matching.rematch_start")
def rematch_start(job_id: int) -> None:
    from triage.matching import service

    service.rematch_start(job_id)


@shared_task(name="triage.matching.rematch_chunk")
def rematch_chunk(job_id: int, item_ids: list[int]) -> None:
    from triage.matching import service

    service.rematch_items(job_id, item_ids)
