"""MentatLab: typed agent packages (Cog-Paks), declarative multi-agent flows, local runs."""

__version__ = "1.0.0"
__all__ = ["__version__"]
