"""Bunri's shared package: what every service, worker and program stands on. It imports none of
them (the architecture's contracts in the root pyproject.toml, checked by `lint-imports`)."""

__version__ = "0.1.0"
