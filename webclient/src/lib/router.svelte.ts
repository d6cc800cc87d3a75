/** A hash router (style-and-layout B4: no SvelteKit): `#/album/al-1?x=y` → {name, params}. */

export interface Route {
  path: string;
  parts: string[];
  query: URLSearchParams;
}

function parse(): Route {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path = "/", qs = ""] = raw.split("?");
  return { path, parts: path.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(qs) };
}

export const route = $state<{ current: Route }>({ current: parse() });

if (typeof window !== "undefined") {
  window.addEventListener("hashchange", () => {
    route.current = parse();
  });
}

export function go(path: string): void {
  location.hash = path;
}

export function href(path: string): string {
  return "#" + path;
}
