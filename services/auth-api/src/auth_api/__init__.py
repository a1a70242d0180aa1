"""auth-api: sign-up, login, token rotation and revocation, social login, and the JWKS."""
