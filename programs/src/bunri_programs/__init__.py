"""Bunri's programs: what an operator or a user runs, standing on the library (`bunri`) and, for
`bunri standalone`, on the services and workers. Nothing imports this package.

- `cli`: the `bunri` command (database, broker, journal, feedback export, reaper, relay,
  worker liveness, standalone, and the client's login, scan and chat); installed workspace
  packages add commands through the `bunri.commands` entry points (the AI worker's `train`)
- `reaper`: fails what the dead-letter queues carry, and stalled scans
- `relay`: the outbox relay as a process of its own
- `journal`: `bunri journal`, a worker node's journal
- `feedback_export`: `bunri feedback export`, the feedback as a training dataset
- `standalone`: the whole platform on one machine
- `client`: a small client of the Bunri API
"""
