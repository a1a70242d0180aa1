"""Bunri storage worker: stores scan images in S3 without metadata."""
