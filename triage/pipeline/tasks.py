"""Celery tasks of the pipeline area. Thin: load by id, call a service."""
