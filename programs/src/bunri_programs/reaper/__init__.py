"""The reaper: every dead-lettered task ends its scan (or chat job) `failed` with the reason, and a
sweep fails whatever stalled past any retry's reach, so that nothing accepted stays non-terminal."""
