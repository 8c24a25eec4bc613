"""Galleries of enrolled faces: names, storage in Redis, and matching against a cached copy."""
