"""Transcoding for `stream`: the decision (decide.py), ffmpeg (ffmpeg.py), the disk cache (cache.py)
and the responses that stream them (response.py)."""
