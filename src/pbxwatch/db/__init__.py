"""Database adapter: tables (the compatibility contract of SPEC §2), engine, migrations, repositories."""
