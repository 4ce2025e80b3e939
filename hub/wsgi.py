import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
application = get_wsgi_application()

from hub import db_scope  # noqa: E402  (after Django is set up)

db_scope.arm()
