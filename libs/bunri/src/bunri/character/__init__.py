"""The character domain: points from what people do (exactly once per event), levels and stages,
missions, reward campaigns and leaderboards. The character worker applies events and grants
campaigns; character-api reads and claims; `bunri rewards` starts campaigns."""
