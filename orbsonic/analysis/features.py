"""Audio-feature vectors for sonic similarity (OpenSubsonic `sonicSimilarity`), with numpy.

A track is decoded by ffmpeg to mono float32 PCM at 22 050 Hz (`decode`: up to `WINDOW_S`
seconds, from a third of the way in for long tracks, where the intro is over) and summarised by
`extract` into `DIM` numbers, grouped (`GROUPS`, by slices of the vector):

* timbre — MFCC 1–12 means and standard deviations (40 mel bands 30 Hz–8 kHz, log power,
  orthonormal DCT-II; c0 is loudness and left out);
* spectrum — spectral centroid and 85 % roll-off (log2 Hz, mean and std of the centroid),
  spectral flatness (Wiener entropy: ~1 noise, ~0 a tone), zero-crossing rate;
* loudness — frame RMS in dBFS, mean and std (the dynamics);
* rhythm — tempo from the autocorrelation of the onset envelope (half-wave-rectified log-mel
  flux), 40–240 BPM, as a point on the tempo *octave circle* (cos, sin of 2π·log2 BPM, so
  90 and 180 BPM agree) scaled by the pulse clarity (the normalised autocorrelation peak:
  ~0 for a drone, which then has no tempo), and the clarity itself;
* key — the 12-bin chroma (power per pitch class, 55 Hz–5 kHz), normalised to sum 1.

The raw vector is stored per track; the index (orbsonic/analysis/sonic.py) standardises each
dimension over the library and weighs the groups (`GROUP_WEIGHTS`) before comparing.
Bump `ALGO_VERSION` when anything here changes: every track is analysed again.
"""

from __future__ import annotations

import asyncio
import math

import numpy as np

__all__ = ["ALGO_VERSION", "DIM", "GROUPS", "GROUP_WEIGHTS", "SAMPLE_RATE", "FeatureError", "decode",
           "extract"]

ALGO_VERSION = "f1"
SAMPLE_RATE = 22050
WINDOW_S = 60.0
MIN_SAMPLES = SAMPLE_RATE // 2  # under half a second there is nothing to describe
N_FFT, HOP = 2048, 512
N_MELS, N_MFCC = 40, 13
TIMEOUT_S = 300.0

GROUPS: dict[str, slice] = {
    "timbre": slice(0, 24),
    "spectrum": slice(24, 29),
    "loudness": slice(29, 31),
    "rhythm": slice(31, 34),
    "key": slice(34, 46),
}
DIM = 46
# How much each group counts in the distance (each group's dimensions share its weight).
GROUP_WEIGHTS = {"timbre": 1.0, "spectrum": 1.0, "loudness": 0.5, "rhythm": 1.0, "key": 0.75}


class FeatureError(Exception):
    """The audio could not be decoded or is too short to describe."""


async def decode(exe: str, path: str, duration_s: float | None, pass_fds: tuple[int, ...] = (),
                 timeout_s: float = TIMEOUT_S) -> np.ndarray:
    """Mono float32 samples at SAMPLE_RATE of at most WINDOW_S seconds of `path` (from a third
    in when the track is longer than 1.5 windows). Raises FeatureError."""
    start = duration_s / 3 if duration_s and duration_s > 1.5 * WINDOW_S else 0.0
    proc = await asyncio.create_subprocess_exec(
        exe, "-hide_banner", "-nostats", "-nostdin", "-loglevel", "error", "-ss", f"{start:.3f}",
        "-t", f"{WINDOW_S:.0f}", "-i", path, "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE),
        "-f", "f32le", "-", stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, pass_fds=pass_fds)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except (TimeoutError, asyncio.CancelledError):
        proc.kill()
        await proc.wait()
        raise FeatureError(f"ffmpeg took longer than {timeout_s:.0f} s") from None
    if proc.returncode != 0:
        last = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise FeatureError(f"ffmpeg exit {proc.returncode}: {last[0][:200]}")
    samples = np.frombuffer(out[: len(out) // 4 * 4], dtype="<f4")
    if samples.size < MIN_SAMPLES:
        raise FeatureError("less than half a second of audio")
    return samples


def _mel_filters(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    mels = np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2)
    hz = 700.0 * (10 ** (mels / 2595.0) - 1.0)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    bank = np.zeros((n_mels, freqs.size), dtype=np.float64)
    for m in range(n_mels):
        lo, mid, hi = hz[m], hz[m + 1], hz[m + 2]
        up = (freqs - lo) / max(mid - lo, 1e-9)
        down = (hi - freqs) / max(hi - mid, 1e-9)
        bank[m] = np.maximum(0.0, np.minimum(up, down)) * (2.0 / (hi - lo))  # Slaney area norm
    return bank


def _dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    basis = np.cos(math.pi / n_in * (n + 0.5) * k) * math.sqrt(2.0 / n_in)
    basis[0] /= math.sqrt(2.0)
    return basis


_FREQS = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
_MEL = _mel_filters(SAMPLE_RATE, N_FFT, N_MELS, 30.0, 8000.0)
_DCT = _dct_matrix(N_MFCC, N_MELS)
_WINDOW = np.hanning(N_FFT).astype(np.float32)
_CHROMA_BINS = (_FREQS >= 55.0) & (_FREQS <= 5000.0)
_PITCH_CLASS = (np.round(12 * np.log2(np.where(_CHROMA_BINS, _FREQS, 440.0) / 440.0)).astype(int) + 9) % 12


def _frames(x: np.ndarray) -> np.ndarray:
    n = 1 + max(0, (x.size - N_FFT) // HOP)
    if x.size < N_FFT:
        x = np.pad(x, (0, N_FFT - x.size))
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n)[:, None]
    return x[idx]


def _tempo(onset: np.ndarray, fps: float) -> tuple[float, float]:
    """(BPM, pulse clarity 0..1) from the onset envelope's autocorrelation."""
    env = onset - onset.mean()
    if env.size < 8 or not np.any(env):
        return 0.0, 0.0
    n = int(2 ** math.ceil(math.log2(2 * env.size)))
    spec = np.fft.rfft(env, n)
    acf = np.fft.irfft(spec * np.conj(spec), n)[: env.size]
    if acf[0] <= 0:
        return 0.0, 0.0
    acf = acf / acf[0]
    lo, hi = int(fps * 60 / 240), min(int(fps * 60 / 40) + 1, acf.size - 1)
    if hi <= lo + 2:
        return 0.0, 0.0
    lag = lo + int(np.argmax(acf[lo:hi]))
    peak = float(acf[lag])
    if 0 < lag < acf.size - 1:  # parabolic refinement of the peak
        a, b, c = acf[lag - 1], acf[lag], acf[lag + 1]
        denom = a - 2 * b + c
        shift = 0.5 * (a - c) / denom if denom else 0.0
        lag_f = lag + max(-0.5, min(0.5, shift))
    else:
        lag_f = float(lag)
    return 60.0 * fps / lag_f, max(0.0, min(1.0, peak))


def extract(samples: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """The raw feature vector (float32, DIM values; layout in GROUPS) of mono `samples`."""
    if sr != SAMPLE_RATE:
        raise ValueError(f"samples must be at {SAMPLE_RATE} Hz")
    x = np.asarray(samples, dtype=np.float32)
    frames = _frames(x)
    power = np.abs(np.fft.rfft(frames * _WINDOW, axis=1)) ** 2  # (frames, bins)
    eps = 1e-10
    mel = power @ _MEL.T
    logmel = 10 * np.log10(mel + eps)
    # An 80 dB floor under the loudest band: the flux of empty bands is dither, not onsets.
    logmel = np.maximum(logmel, logmel.max() - 80.0)
    mfcc = logmel @ _DCT.T  # (frames, 13)
    total = power.sum(axis=1) + eps
    centroid = (power @ _FREQS) / total
    cumulative = np.cumsum(power, axis=1)
    rolloff = _FREQS[np.minimum((cumulative < 0.85 * total[:, None]).sum(axis=1), _FREQS.size - 1)]
    flatness = np.exp(np.mean(np.log(power[:, 1:] + eps), axis=1)) / (np.mean(power[:, 1:], axis=1) + eps)
    signs = np.signbit(frames)
    zcr = np.mean(signs[:, 1:] != signs[:, :-1], axis=1)
    rms_db = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + eps)
    audible = rms_db > -70.0
    weights = audible if audible.any() else np.ones_like(audible)
    flux = np.maximum(0.0, np.diff(logmel, axis=0)).sum(axis=1) if logmel.shape[0] > 1 else np.zeros(1)
    bpm, clarity = _tempo(flux, sr / HOP)
    # The autocorrelation is scale-free: a drone's tiny flux ripples look periodic too. Onsets
    # must also be strong (flux spread in dB) for the pulse to count.
    spread = float(flux.std())
    clarity *= spread / (spread + 5.0)
    angle = 2 * math.pi * math.log2(bpm) if bpm > 0 else 0.0
    chroma = np.bincount(_PITCH_CLASS[_CHROMA_BINS], weights=power[:, _CHROMA_BINS].sum(axis=0), minlength=12)
    chroma = chroma / (chroma.sum() + eps)

    def wmean(v: np.ndarray) -> float:
        return float(np.average(v, weights=weights))

    def wstd(v: np.ndarray) -> float:
        return float(math.sqrt(max(0.0, np.average((v - wmean(v)) ** 2, weights=weights))))

    log_centroid = np.log2(centroid + 1.0)
    vec = [
        *[wmean(mfcc[:, i]) for i in range(1, N_MFCC)],
        *[wstd(mfcc[:, i]) for i in range(1, N_MFCC)],
        wmean(log_centroid), wstd(log_centroid), wmean(np.log2(rolloff + 1.0)), wmean(flatness), wmean(zcr),
        wmean(rms_db), wstd(rms_db),
        clarity * math.cos(angle), clarity * math.sin(angle), clarity,
        *chroma.tolist(),
    ]
    out = np.asarray(vec, dtype=np.float32)
    assert out.size == DIM
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
