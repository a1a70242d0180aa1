"""Prometheus metrics (DESIGN.md section 9): each service serves them at `/metrics` on its own
port, each worker (and the reaper) on `BUNRI_METRICS_PORT`. Every metric is named `bunri_*`; the
README's Observability section lists them."""
