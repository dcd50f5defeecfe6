"""Shiplane's ``oci-registry`` integration type: any registry speaking the OCI distribution spec."""
