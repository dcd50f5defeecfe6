"""Acme's Shiplane plugin (an example vendor distribution built on shiplane-sdk alone)."""
