"""vidmm: understand video — search, caption, answer and classify."""

__version__ = "0.1.0"
