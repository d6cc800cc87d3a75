"""Audio analysis that runs in background jobs (orbsonic/jobs), never on the request path:
waveform peaks for the web client's seek bar (waveform.py), later loudness and the like."""
