"""Create the Letta 0.16.8 schema in an empty PostgreSQL database, idempotently.

The PyPI wheel ships no alembic migrations, so the tables come from the ORM (`Base.metadata.create_all`, which
skips what already exists). A few things the upstream migrations add outside the ORM are applied afterwards,
each in an idempotent form. Runs inside the server's virtual environment with LETTA_PG_URI set.
"""

from __future__ import annotations

import os
import sys

# Upstream migration e991d2e3b428 gives messages.sequence_id a sequence default; the ORM only declares
# FetchedValue(), so without this every new message (and so every new agent) fails with a not-null error.
# archives_agents.created_at is declared with the string "now()", which create_all freezes into a constant.
EXTRA_DDL = (
    "CREATE SEQUENCE IF NOT EXISTS message_seq_id AS bigint START 1",
    "ALTER TABLE messages ALTER COLUMN sequence_id SET DEFAULT nextval('message_seq_id'::regclass)",
    "ALTER SEQUENCE message_seq_id OWNED BY messages.sequence_id",
    "ALTER TABLE archives_agents ALTER COLUMN created_at SET DEFAULT now()",
    "ALTER TABLE steps ALTER COLUMN prompt_tokens SET DEFAULT 0",
    "ALTER TABLE steps ALTER COLUMN completion_tokens SET DEFAULT 0",
    "ALTER TABLE steps ALTER COLUMN total_tokens SET DEFAULT 0",
    "ALTER TABLE identities ALTER COLUMN properties SET DEFAULT '[]'::jsonb",
)


def main() -> None:
    uri = os.environ.get("LETTA_PG_URI")
    if not uri:
        sys.exit("error: LETTA_PG_URI is not set")
    # LETTA_PG_URI must be set before letta.orm is imported: it picks pgvector's type for embeddings then.
    import letta.orm  # noqa: F401  (registers every model on Base.metadata)
    from letta.orm.base import Base
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(uri.replace("postgresql://", "postgresql+psycopg2://", 1))
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
        before = set(inspect(conn).get_table_names())
        Base.metadata.create_all(conn)
        for statement in EXTRA_DDL:
            conn.execute(text(statement))
        after = set(inspect(conn).get_table_names())
    created = len(after - before)
    print(f"schema ready: {len(after)} tables ({created} created now)")


if __name__ == "__main__":
    main()
