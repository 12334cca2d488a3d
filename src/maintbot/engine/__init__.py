"""Engines turn a question into an understanding: an intent, and for data questions the SQL."""
