"""Alembic environment for the compatibility test: online migrations only, against the URL the
test writes into alembic.ini (pgwarden's address), each migration in its own transaction."""
from alembic import context
from sqlalchemy import create_engine

engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
with engine.connect() as connection:
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
