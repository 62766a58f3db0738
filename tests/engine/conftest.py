from engine_harness import harness

__all__ = ["harness"]
