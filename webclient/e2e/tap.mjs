// The AudioWorklet output tap shared by the e2e and engine browser tests. Installed with
// page.addInitScript before the app loads: the engine calls window.__orbOutput(ctx, gain)
// for every context it builds, and the tap sits between the final gain and the destination,
// passing audio through and recording channel 0 with its context frame numbers.
export const TAP_INIT = `
(() => {
  const worklet = \`
    class Tap extends AudioWorkletProcessor {
      process(inputs, outputs) {
        const inp = inputs[0], out = outputs[0];
        for (let c = 0; c < out.length; c++) if (inp[c]) out[c].set(inp[c]);
        if (inp[0]) this.port.postMessage({ frame: currentFrame, rate: sampleRate, data: inp[0].slice() });
        return true;
      }
    }
    registerProcessor("orb-tap", Tap);\`;
  const url = URL.createObjectURL(new Blob([worklet], { type: "application/javascript" }));
  window.__tap = { blocks: [], armed: false, firstSoundAt: null, contexts: 0 };
  window.__orbOutput = async (ctx, gain) => {
    await ctx.audioWorklet.addModule(url);
    const node = new AudioWorkletNode(ctx, "orb-tap", { outputChannelCount: [2] });
    const id = ++window.__tap.contexts;
    node.port.onmessage = (e) => {
      const t = window.__tap;
      if (t.firstSoundAt === null && e.data.data.some((x) => Math.abs(x) > 1e-4)) t.firstSoundAt = performance.now();
      if (t.armed) t.blocks.push({ ...e.data, id });
    };
    gain.connect(node);
    return node;
  };
  // Analyse the recording for a sine of frequency f: the identity x[n+1] + x[n-1] = 2 cos(w) x[n]
  // holds for any amplitude and phase, so its residual jumps at a gap, a click or a phase
  // break; windowed RMS catches inserted silence (which the identity alone would accept).
  window.__analyseSine = (f) => {
    // only the newest context's output (an older one may still be winding down)
    const all = window.__tap.blocks;
    const newest = all.length ? all[all.length - 1].id : 0;
    const blocks = all.filter((b) => b.id === newest);
    if (!blocks.length) return { samples: 0 };
    const rate = blocks[0].rate;
    let dropped = 0;
    const xs = [];
    for (let i = 0; i < blocks.length; i++) {
      if (i && blocks[i].frame !== blocks[i - 1].frame + blocks[i - 1].data.length) dropped++;
      for (const v of blocks[i].data) xs.push(v);
    }
    // skip leading silence before the first sound and trailing silence after the last
    let a = 0; while (a < xs.length && Math.abs(xs[a]) < 1e-3) a++;
    let b = xs.length - 1; while (b > a && Math.abs(xs[b]) < 1e-3) b--;
    a += 256; b -= 256;
    const c2 = 2 * Math.cos((2 * Math.PI * f) / rate);
    let maxRes = 0, at = -1, peak = 0;
    for (let n = a + 1; n < b - 1; n++) {
      const r = Math.abs(xs[n + 1] + xs[n - 1] - c2 * xs[n]);
      if (r > maxRes) { maxRes = r; at = n; }
      peak = Math.max(peak, Math.abs(xs[n]));
    }
    const W = Math.round(rate / f) * 2;
    let minRms = Infinity;
    for (let n = a; n + W < b; n += W / 2) {
      let s = 0; for (let k = 0; k < W; k++) s += xs[n + k] * xs[n + k];
      minRms = Math.min(minRms, Math.sqrt(s / W));
    }
    return { samples: Math.max(0, b - a), rate, maxResidual: maxRes, residualAt: at - a, peak, minRms, dropped };
  };
  // Two tracks of different sine frequencies f1 then f2: per window, each frequency's
  // amplitude (Goertzel), to see how long both sound at once (a crossfade's overlap) and
  // whether the sound ever drops out (inserted silence) between the first and last sound.
  window.__analyseMix = (f1, f2) => {
    const all = window.__tap.blocks;
    const newest = all.length ? all[all.length - 1].id : 0;
    const xs = [];
    let rate = 0;
    for (const bl of all) if (bl.id === newest) { rate = bl.rate; for (const v of bl.data) xs.push(v); }
    let a = 0; while (a < xs.length && Math.abs(xs[a]) < 1e-3) a++;
    let b = xs.length - 1; while (b > a && Math.abs(xs[b]) < 1e-3) b--;
    const W = 1024;
    const amp = (f, from) => {
      const c = 2 * Math.cos((2 * Math.PI * f) / rate);
      let s1 = 0, s2 = 0;
      for (let k = 0; k < W; k++) { const s0 = xs[from + k] * 0.5 * (1 - Math.cos((2 * Math.PI * k) / (W - 1))) + c * s1 - s2; s2 = s1; s1 = s0; }
      return (4 * Math.sqrt(Math.max(0, s1 * s1 + s2 * s2 - c * s1 * s2))) / W; // Hann window: amplitude
    };
    const wins = [];
    for (let n = a + W; n + 2 * W < b; n += W) {
      let e = 0; for (let k = 0; k < W; k++) e += xs[n + k] * xs[n + k];
      wins.push({ a1: amp(f1, n), a2: amp(f2, n), rms: Math.sqrt(e / W) });
    }
    const m1 = Math.max(...wins.map((w) => w.a1)), m2 = Math.max(...wins.map((w) => w.a2));
    const both = wins.filter((w) => w.a1 > 0.1 * m1 && w.a2 > 0.1 * m2).length;
    const first2 = wins.findIndex((w) => w.a2 > 0.1 * m2);
    const last1 = wins.length - 1 - [...wins].reverse().findIndex((w) => w.a1 > 0.1 * m1);
    const maxRms = Math.max(...wins.map((w) => w.rms));
    return { rate, windows: wins.length, windowS: W / rate, overlapS: (both * W) / rate, firstF2At: first2, lastF1At: last1,
      max1: m1, max2: m2, minRmsRatio: Math.min(...wins.map((w) => w.rms)) / maxRms };
  };
})();
`;

export const LAUNCH_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required",
  "--disable-dev-shm-usage", "--mute-audio",
];
