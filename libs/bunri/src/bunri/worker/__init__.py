"""What every Celery worker shares (needs the `bunri[worker]` extra): the app configuration of
DESIGN.md section 4, topology declaration, and the database/Redis/event plumbing of a task."""
