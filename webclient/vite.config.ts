// Vite config: the build goes into the Python package (orbsonic/_webclient, git-ignored,
// force-included in the wheel) so `orbsonic serve` serves it at `/`.
import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";

export default defineConfig({
  plugins: [svelte()],
  base: "/",
  build: {
    outDir: "../orbsonic/_webclient",
    emptyOutDir: true,
    target: "es2022",
    assetsDir: "assets",
    sourcemap: false,
  },
  server: {
    proxy: { "/api": "http://127.0.0.1:4040" },
  },
  test: {
    include: ["tests/**/*.test.ts"],
    environment: "node",
  },
});
