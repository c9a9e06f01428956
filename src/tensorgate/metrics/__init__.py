"""Prometheus instruments and V2 statistics."""
