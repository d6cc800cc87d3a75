"""Audio analysis that runs in background jobs (orbsonic/jobs), never on the request path:
loudness (R128 → ReplayGain, loudness.py) and waveform peaks for the web client's seek bar
(waveform.py)."""
