import pytest


@pytest.fixture(autouse=True)
def _celery_eager_really():
    """tests/conftest.py's ``_celery_eager`` sets ``app.conf.task_always_eager``, but with
    the ``CELERY`` namespace the Django setting ``CELERY_TASK_ALWAYS_EAGER`` (False) takes
    precedence over that key, so tasks were not eager. Setting the namespaced key works."""
    from hub.celery import app

    app.conf.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.CELERY_TASK_EAGER_PROPAGATES = True
    yield
    app.conf.CELERY_TASK_ALWAYS_EAGER = False
