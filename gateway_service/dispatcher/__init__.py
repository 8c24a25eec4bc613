"""Moves jobs from the Redis stream to the face services (see worker.py); runs standalone via __main__."""
