"""Celery tasks of the review area. Thin: load by id, call a service."""
