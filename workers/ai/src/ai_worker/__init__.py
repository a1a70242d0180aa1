"""Bunri AI worker: classifies waste and attaches the disposal guide."""
