"""`bunri train` and `bunri evaluate`: the self-hosted classifier, trained from scratch on a folder
of labelled photos, calibrated, and measured on photos it never saw."""
