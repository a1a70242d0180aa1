"""`bunri-auth-api`: serve auth-api with uvicorn (the default), or generate a signing key."""

from __future__ import annotations

import sys

import typer

from auth_api.keys import generate_private_key_pem
from auth_api.settings import AuthApiSettings
from bunri.web.app import serve

cli = typer.Typer(add_completion=False, help=__doc__)


@cli.callback(invoke_without_command=True)
def run(context: typer.Context) -> None:
    """Serve auth-api (host, port and workers from BUNRI_AUTH_API_*)."""
    if context.invoked_subcommand is not None:
        return
    settings = AuthApiSettings()
    serve(
        "auth_api.app:create_app",
        settings,
        host=settings.auth_api_host,
        port=settings.auth_api_port,
        workers=settings.auth_api_workers,
    )


@cli.command("generate-key")
def generate_key() -> None:
    """Print a new Ed25519 signing key (PEM) for BUNRI_SIGNING_KEY or BUNRI_SIGNING_KEY_FILE."""
    sys.stdout.write(generate_private_key_pem().decode())


def main() -> None:
    cli()
