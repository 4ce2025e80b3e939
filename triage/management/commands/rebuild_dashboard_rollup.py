"""Recompute the dashboard's daily rollup from the items, decisions and exposure events
(PostgreSQL). ``migrate`` does this by itself when the triggers or the time zone change;
run it after anything that wrote the tables with triggers switched off (a restore with
``--disable-triggers``, ``session_replication_role = replica``)."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from hub import db_scope
from triage.dashboard import rollup


class Command(BaseCommand):
    help = "Rebuild the supervisor dashboard's daily rollup (PostgreSQL only)."

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default")

    def handle(self, *args, database="default", **options):
        connection = connections[database]
        if connection.vendor != "postgresql":
            raise CommandError("The rollup exists on PostgreSQL only; SQLite reads the rows.")
        was_armed = db_scope.is_armed()
        db_scope.disarm()  # the owner role: every agency's rows
        try:
            started = time.perf_counter()
            rows = rollup.rebuild(connection, settings.TIME_ZONE)
        finally:
            if was_armed:
                db_scope.arm()
        self.stdout.write(
            f"Rebuilt the dashboard rollup: {rows} rows in {time.perf_counter() - started:.1f}s."
        )
