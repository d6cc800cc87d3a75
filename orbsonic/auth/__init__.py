"""Authentication: password storage, users and API keys (no protocol knowledge)."""
