"""Bunri chat-api."""
