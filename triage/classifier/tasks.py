"""Celery tasks of the classifier area. Thin: load by id, call a service."""
