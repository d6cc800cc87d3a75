/**
 * Chunk decoders for the Web Audio tier. A chunk is the file's header block (`fLaC` +
 * metadata, bytes [0, audioOffset)) followed by whole FLAC frames cut at seek-index points,
 * so it is a valid FLAC stream on its own (a decoder started mid-file needs the STREAMINFO
 * header: style-and-layout B2, LMS PR #1461).
 *
 * - "native": the browser's own FLAC decoder through `decodeAudioData` on an AudioContext
 *   created at the file's rate, so no resampling happens (Chromium: infra-notes §9).
 * - "wasm": @wasm-audio-decoders/flac in a Web Worker, imported lazily (its 67 KiB never
 *   enters the initial bundle), for browsers whose decodeAudioData lacks FLAC.
 */

export interface Decoded {
  channels: Float32Array[];
  sampleRate: number;
  samples: number;
}

export interface ChunkDecoder {
  readonly kind: "native" | "wasm";
  decode(header: Uint8Array, frames: Uint8Array): Promise<Decoded>;
  close(): void;
}

export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

export class NativeDecoder implements ChunkDecoder {
  readonly kind = "native" as const;
  constructor(private readonly ctx: BaseAudioContext) {}

  async decode(header: Uint8Array, frames: Uint8Array): Promise<Decoded> {
    const bytes = concat(header, frames);
    const buf = await this.ctx.decodeAudioData(bytes.buffer as ArrayBuffer);
    const channels: Float32Array[] = [];
    for (let c = 0; c < buf.numberOfChannels; c++) channels.push(buf.getChannelData(c));
    return { channels, sampleRate: buf.sampleRate, samples: buf.length };
  }

  close(): void {}
}

type WasmWorkerDecoder = import("@wasm-audio-decoders/flac").FLACDecoderWebWorker;

export class WasmDecoder implements ChunkDecoder {
  readonly kind = "wasm" as const;
  private decoder: Promise<WasmWorkerDecoder> | null = null;
  /** Bit depth of the last decoded chunk (STREAMINFO's, as the decoder reports it). */
  bitDepth: number | null = null;

  private load(): Promise<WasmWorkerDecoder> {
    // Lazy: this import becomes its own chunk, fetched only when this tier is used.
    this.decoder ??= import("@wasm-audio-decoders/flac").then(async (m) => {
      const d = new m.FLACDecoderWebWorker();
      await d.ready;
      return d;
    });
    return this.decoder;
  }

  async decode(header: Uint8Array, frames: Uint8Array): Promise<Decoded> {
    const d = await this.load();
    // decodeFile = decode + flush (the last frame ends with the data) + reset.
    const out = await d.decodeFile(concat(header, frames));
    this.bitDepth = out.bitDepth;
    return { channels: out.channelData, sampleRate: out.sampleRate, samples: out.samplesDecoded };
  }

  close(): void {
    void this.decoder?.then((d) => d.free());
    this.decoder = null;
  }
}

/** Whether decodeAudioData understands FLAC here (probed once with a tiny file would cost a
 * request; Chromium and Firefox do, Safari before 17 did not). */
export function nativeFlacLikely(): boolean {
  const ua = typeof navigator === "undefined" ? "" : navigator.userAgent;
  return !/Version\/1[0-6].*Safari/.test(ua);
}
