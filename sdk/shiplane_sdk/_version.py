"""The SDK's own semantic version (not the server's)."""

__version__ = "0.1.0"
