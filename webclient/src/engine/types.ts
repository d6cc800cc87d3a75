/** Shapes from docs/native-api.md that the engine needs (the UI uses the same ones). */

export interface ReplayGain {
  trackGain: number | null;
  trackPeak: number | null;
  albumGain: number | null;
  albumPeak: number | null;
}

/** `Track` of the native API (durations in ms, rates in Hz, sizes in bytes). */
export interface Track {
  id: string;
  title: string;
  artist: string | null;
  artistId: string | null;
  album: string | null;
  albumId: string | null;
  albumArtist?: string | null;
  trackNumber: number | null;
  discNumber: number | null;
  year?: number | null;
  genres?: string[];
  durationMs: number;
  codec: string | null;
  container: string | null;
  contentType: string | null;
  bitDepth: number | null;
  sampleRate: number | null;
  channels: number | null;
  totalSamples: number | null;
  bitRate?: number | null;
  size?: number;
  replayGain: ReplayGain | null;
  coverArt: string | null;
  starred?: string | null;
  rating?: number;
  playCount?: number;
  streamUrl: string;
  seekIndexUrl: string | null;
  waveformUrl: string | null;
  lossless: boolean;
  browserPlayable: boolean;
}
