"""Shiplane's built-in capabilities, registered through the same entry point a vendor uses."""
