"""The web console: a transport like a channel. It signs staff in (handlers/accounts.py) and calls the same
ticket operations as chat (handlers/desk.py); it never touches storage (the import contract says so)."""
