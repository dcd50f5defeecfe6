"""Shiplane's ``git`` integration type: a repository's tags (and branch heads) as versions."""

from shiplane_plugin_git.integration import Git

__all__ = ["Git"]
