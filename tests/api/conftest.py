from api_harness import agents_dir, app, db, keys, server, server_factory

__all__ = ["agents_dir", "app", "db", "keys", "server", "server_factory"]
