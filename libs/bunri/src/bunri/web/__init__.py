"""HTTP plumbing shared by every service: errors, middleware, health checks, app assembly."""
