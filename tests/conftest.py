# One place for the PostgreSQL server and schema-per-test fixtures of every suite.
pytest_plugins = ["pg_fixtures"]
