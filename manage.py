#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
    from django.core.management import execute_from_command_line

    if len(sys.argv) > 1 and sys.argv[1] != "runserver":
        # An operator's command on the server sees every agency; requests never do.
        from hub import db_scope

        db_scope.set_process_default(db_scope.ALL)

    execute_from_command_line(sys.argv)
