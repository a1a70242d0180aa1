"""Bunri's shared package: what every service and worker stands on."""

__version__ = "0.1.0"
