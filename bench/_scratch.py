"""Shared set-up of the benchmarks that run on PostgreSQL: a temporary data folder, a
scratch database next to DATABASE_URL's, a Redis database for the broker, then Django.
Call :func:`configure` before importing anything from Django or the project."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent


class Scratch(NamedTuple):
    data: str  # the temporary HUB_DATA_DIR
    name: str  # the scratch database
    url: str  # its URL, for worker subprocesses
    redis: str  # the broker URL


def configure(prefix: str, name: str, redis_default: str) -> Scratch:
    sys.path.insert(0, str(ROOT))
    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    scratch = Scratch(
        data=tempfile.mkdtemp(prefix=prefix),
        name=name,
        url=base_url.rsplit("/", 1)[0] + "/" + name,
        redis=os.environ.get("REDIS_URL", redis_default),
    )
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "hub.settings",
            "HUB_DATA_DIR": scratch.data,
            "DATABASE_URL": base_url,
            "CELERY_BROKER_URL": scratch.redis,
        }
    )
    import django

    django.setup()
    return scratch


def create_database(name: str) -> None:
    """A fresh database with every table (no migrations, like the test suite)."""
    from django.db import connection

    connection.settings_dict["TEST"].update({"NAME": name, "MIGRATE": False})
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
