"""Shiplane's ``ssh`` target type: a directory on a host reached over SSH."""
