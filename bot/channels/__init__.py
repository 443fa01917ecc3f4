"""Channels: the transports that bring messages in and send replies out (console, wechaty, tests)."""
