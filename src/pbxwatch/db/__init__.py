"""Database adapter: tables (the compatibility contract of docs/design.md §2), engine, migrations, repositories."""
