"""Database access: declarative models, engines and the request/task session boundary."""
