"""Webhooks: a task's final JSON POSTed, signed, to the ``callback_url`` given at submission."""
