"""Background audio analysis (loudness, waveforms): job tasks over the library's files."""
