"""A small client of the Bunri API for the command line (`bunri login`, `bunri scan`)."""
