/**
 * The optional 10-band equaliser (issue 10: off by default): peaking BiquadFilterNodes at the
 * ISO octave centres between a tier's gain node and its output. When off, the filters are
 * not in the graph at all, so the lossless path stays untouched.
 */

export const EQ_BANDS_HZ = [31, 62, 125, 250, 500, 1000, 2000, 4000, 8000, 16000] as const;
/** Octave bands: Q = √2 for a one-octave bandwidth of a peaking filter. */
export const EQ_Q = Math.SQRT2;

/** Clamp a list of band gains (dB) to ±12 dB and the band count; null/empty = off. */
export function normaliseEq(gains: readonly number[] | null): number[] | null {
  if (!gains || gains.every((g) => !g)) return null;
  return EQ_BANDS_HZ.map((_, i) => Math.max(-12, Math.min(12, Number(gains[i] ?? 0) || 0)));
}

export class Equaliser {
  private filters: BiquadFilterNode[] = [];
  private input: AudioNode | null = null;
  private output: AudioNode | null = null;
  private gains: number[] | null = null;

  /** Wire `input` → (filters) → `output` on `ctx`, applying the current setting. */
  attach(ctx: BaseAudioContext, input: AudioNode, output: AudioNode): void {
    this.filters = EQ_BANDS_HZ.map((hz) => {
      const f = ctx.createBiquadFilter();
      f.type = "peaking";
      f.frequency.value = Math.min(hz, ctx.sampleRate / 2 - 1);
      f.Q.value = EQ_Q;
      return f;
    });
    for (let i = 0; i + 1 < this.filters.length; i++) (this.filters[i] as BiquadFilterNode).connect(this.filters[i + 1] as BiquadFilterNode);
    this.input = input;
    this.output = output;
    this.rewire();
  }

  set(gains: readonly number[] | null): void {
    this.gains = normaliseEq(gains);
    this.rewire();
  }

  private rewire(): void {
    const { input, output } = this;
    if (!input || !output) return;
    input.disconnect();
    const first = this.filters[0];
    const last = this.filters[this.filters.length - 1];
    if (this.gains && first && last) {
      this.filters.forEach((f, i) => (f.gain.value = this.gains?.[i] ?? 0));
      input.connect(first);
      last.disconnect();
      last.connect(output);
    } else {
      input.connect(output);
    }
  }
}
