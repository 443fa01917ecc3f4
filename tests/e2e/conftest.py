"""The end-to-end fixtures (the Node Wechaty harness) live in tests/conftest.py, shared with tests/reliability."""
