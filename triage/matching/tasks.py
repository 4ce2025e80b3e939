"""Celery tasks of the matching area. Thin: load by id, call a service."""
