// Memory bound of a long track in real Chromium: play one (long) FLAC through the engine on a
// forced tier, seek far into it twice, and sample the JS heap and (MSE) the SourceBuffer's
// held bytes and seconds every 250 ms. On the MSE tier the element also plays at 16x for a
// while, so played ranges must be removed for the bound to hold.
// Usage: node e2e/longplay.mjs <baseUrl> <tracks.json> <tier>
// Prints one JSON line: {tier, samples: [{at, heap, bytes, seconds}], positions, errors}.
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";
import { LAUNCH_ARGS, TAP_INIT } from "./tap.mjs";

const [base, tracksFile, tier] = process.argv.slice(2);
const tracks = JSON.parse(readFileSync(tracksFile, "utf8"));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true,
  args: [...LAUNCH_ARGS, "--enable-precise-memory-info"],
});
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.addInitScript(TAP_INIT);
  await page.goto(base + "/");
  await page.waitForFunction(() => window.__orbEngine);
  const out = await page.evaluate(async ({ tracks, tier }) => {
    const { Player, Queue } = window.__orbEngine;
    const p = new Player({ fetch: (u, i) => fetch(u, i), mediaUrl: (u) => u, output: window.__orbOutput, report: () => {}, tier });
    const errs = [];
    p.subscribe((s) => { if (s.error) errs.push(s.error); });
    const samples = [];
    const t0 = performance.now();
    const sample = () => {
      const st = p.engine && typeof p.engine.bufferStats === "function" ? p.engine.bufferStats() : null;
      samples.push({ at: Math.round(performance.now() - t0), heap: performance.memory ? performance.memory.usedJSHeapSize : null,
        bytes: st ? st.bytes : null, seconds: st ? st.seconds : null, pos: p.positionMs() });
    };
    const iv = setInterval(sample, 250);
    const wait = (ms) => new Promise((r) => setTimeout(r, ms));
    await p.playQueue(Queue.of(tracks), 0, true);
    await wait(3000);
    const positions = [];
    if (p.state.tier === "mse") {
      p.engine.el.playbackRate = 16; // 8 s wall = ~2 minutes of audio through the buffer
      await wait(8000);
      p.engine.el.playbackRate = 1;
      positions.push(p.positionMs());
    }
    for (const at of [3600_000, tracks[0].durationMs - 20_000]) {
      await p.seek(at);
      await wait(3000);
      positions.push(p.positionMs());
    }
    clearInterval(iv);
    sample();
    const state = { tier: p.state.tier, playing: p.state.playing };
    await p.stop();
    return { ...state, samples, positions, errors: errs };
  }, { tracks, tier });
  out.pageErrors = errors;
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
