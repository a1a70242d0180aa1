"""Bunri scan-api."""
