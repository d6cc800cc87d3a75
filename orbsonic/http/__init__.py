"""HTTP helpers shared by the API surfaces (byte ranges; the server setup lives in server.py)."""
