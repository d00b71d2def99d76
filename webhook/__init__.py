"""Admission webhook for Aiven's ConnectionPool (aiven.io/v1alpha1)."""

__version__ = "0.1.0"
