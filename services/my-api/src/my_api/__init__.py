"""my-api: a person\x27s own page (DESIGN.md section 10)."""
