import type { Track } from "../src/engine/types";

export function track(id: string, over: Partial<Track> = {}): Track {
  return {
    id, title: id, artist: "A", artistId: "ar-1", album: "B", albumId: "al-1", trackNumber: 1, discNumber: 1,
    durationMs: 1000, codec: "flac", container: "flac", contentType: "audio/flac", bitDepth: 16,
    sampleRate: 44100, channels: 2, totalSamples: 44100, replayGain: null, coverArt: null,
    streamUrl: `/api/v1/stream/${id}`, seekIndexUrl: `/api/v1/tracks/${id}/seek-index`,
    waveformUrl: null, lossless: true, browserPlayable: true, ...over,
  };
}
