from cli_harness import cli, home

__all__ = ["cli", "home"]
