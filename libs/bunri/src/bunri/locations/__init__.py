"""Where to take it: collection points, the nearby search, its cache and the live provider."""
