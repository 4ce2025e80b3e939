"""``migrate``, plus the database's tenancy backstop on PostgreSQL.

After Django's migrations it (re)creates the row-level security policies on the
evidence tables and grants the application role (``HUB_DB_APP_ROLE``) its data
privileges. It runs as the owner role, so it always sees every agency."""

from __future__ import annotations

from django.core.management.commands.migrate import Command as DjangoMigrate
from django.db import connections

from hub import db_scope


class Command(DjangoMigrate):
    help = DjangoMigrate.help + " Then applies row-level security on PostgreSQL."

    def handle(self, *args, **options):
        was_armed = db_scope.is_armed()
        db_scope.disarm()
        try:
            super().handle(*args, **options)
            connection = connections[options["database"]]
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    for statement in db_scope.enable_rls_sql():
                        cursor.execute(statement)
                self._dashboard_rollup(connection, options["verbosity"])
                db_scope.grant_app_role(connection)
                if options["verbosity"] >= 1:
                    tables = len(db_scope.AGENCY_TABLES) + len(db_scope.SHARED_TABLES)
                    self.stdout.write(f"  Row-level security on {tables} evidence tables.")
        finally:
            if was_armed:
                db_scope.arm()

    def _dashboard_rollup(self, connection, verbosity: int) -> None:
        """The dashboard's rollup triggers (and the row-level security of its two tables,
        compacted and delta; the grants follow in ``grant_app_role``); a rebuild when
        they or the time zone changed (triage/dashboard/rollup.py)."""
        from django.conf import settings

        from triage.dashboard import rollup

        tables = connection.introspection.table_names()
        if not {rollup.TABLE, rollup.DELTA_TABLE, rollup.STATE_TABLE} <= set(tables):
            rollup.uninstall(connection)  # migrated back to before the rollup
            return
        if rollup.ensure(connection, settings.TIME_ZONE) and verbosity >= 1:
            self.stdout.write("  Rebuilt the dashboard's daily rollup.")
