"""Django settings for the migration pipeline of test_migration_tools.py: one app, inventory, on
PostgreSQL through psycopg2; the server, user and password come from PGHOST, PGPORT, PGUSER,
PGPASSWORD and PGDATABASE, and libpq adds PGOPTIONS (the job id and commit) on its own."""
import os

SECRET_KEY = "not-secret-test-only"
INSTALLED_APPS = ["inventory"]
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": os.environ["PGDATABASE"],
                         "USER": os.environ["PGUSER"], "PASSWORD": os.environ["PGPASSWORD"],
                         "HOST": os.environ["PGHOST"], "PORT": os.environ["PGPORT"]}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
