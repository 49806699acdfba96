"""The PostgreSQL backend (`--db postgresql://…`): the same store protocol, schema history and
event log as SQLite's, over a database several processes write at once; vectors in pgvector.
Needs `pip install 'overlay[postgres]'` (psycopg and pgvector's types)."""
