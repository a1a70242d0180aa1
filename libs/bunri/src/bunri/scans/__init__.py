"""The scan state machine and what every party needs to move a scan along or describe it."""
