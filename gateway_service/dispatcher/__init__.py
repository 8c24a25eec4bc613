"""Moves jobs from the Redis stream to the face services and their answers back (``consumer.Dispatcher``);
runs inside the gateway, or standalone via ``python -m gateway_service.dispatcher``."""
