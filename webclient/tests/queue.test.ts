import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Queue } from "../src/engine/queue";
import { track } from "./fixtures";

const ids = (q: Queue) => q.trackIds();

describe("Queue", () => {
  it("plays next after the current entry and appends at the end", () => {
    let q = Queue.of([track("a"), track("b"), track("c")], 1);
    q = q.playNext([track("x")]);
    expect(ids(q)).toEqual(["a", "b", "x", "c"]);
    expect(q.currentTrack?.id).toBe("b");
    expect(q.nextTrack?.id).toBe("x");
    q = q.append([track("z")]);
    expect(ids(q)).toEqual(["a", "b", "x", "c", "z"]);
  });

  it("selects the first entry of an emptied-then-filled queue", () => {
    const q = Queue.empty().append([track("a")]);
    expect(q.current).toBe(0);
    expect(Queue.empty().playNext([track("a"), track("b")]).currentTrack?.id).toBe("a");
  });

  it("removing the current entry selects the following one, or the last", () => {
    const q = Queue.of([track("a"), track("b"), track("c")], 1);
    expect(q.remove(1).currentTrack?.id).toBe("c");
    expect(Queue.of([track("a"), track("b")], 1).remove(1).currentTrack?.id).toBe("a");
    expect(Queue.of([track("a")], 0).remove(0).current).toBeNull();
  });

  it("shuffle puts the current entry first", () => {
    const q = Queue.of(["a", "b", "c", "d", "e"].map((i) => track(i)), 3).shuffle(() => 0.3);
    expect(q.current).toBe(0);
    expect(q.currentTrack?.id).toBe("d");
  });

  // The property/fuzz test: any sequence of operations keeps the queue consistent against a
  // simple reference model (an array of keys plus the current key).
  it("matches a reference model under random operations", () => {
    type Op =
      | { k: "next"; n: number }
      | { k: "append"; n: number }
      | { k: "move"; from: number; to: number }
      | { k: "remove"; i: number }
      | { k: "select"; i: number }
      | { k: "shuffle"; seed: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ k: fc.constant("next" as const), n: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ k: fc.constant("append" as const), n: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ k: fc.constant("move" as const), from: fc.integer({ min: -2, max: 12 }), to: fc.integer({ min: -2, max: 12 }) }),
      fc.record({ k: fc.constant("remove" as const), i: fc.integer({ min: -1, max: 12 }) }),
      fc.record({ k: fc.constant("select" as const), i: fc.integer({ min: 0, max: 12 }) }),
      fc.record({ k: fc.constant("shuffle" as const), seed: fc.integer() }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        let q = Queue.empty();
        let n = 0;
        for (const o of ops) {
          const before = q;
          const curKey = before.current === null ? null : before.entries[before.current]!.key;
          switch (o.k) {
            case "next":
            case "append": {
              const add = Array.from({ length: o.n }, () => track(`t${n++}`));
              q = o.k === "next" ? q.playNext(add) : q.append(add);
              expect(q.length).toBe(before.length + o.n);
              if (curKey !== null) expect(q.entries[q.current!]!.key).toBe(curKey);
              if (o.k === "next" && curKey !== null && o.n > 0) expect(q.nextTrack?.id).toBe(add[0]!.id);
              if (o.k === "append") expect(ids(q).slice(0, before.length)).toEqual(ids(before));
              break;
            }
            case "move": {
              q = q.move(o.from, o.to);
              expect([...q.entries.map((e) => e.key)].sort()).toEqual([...before.entries.map((e) => e.key)].sort());
              if (curKey !== null) expect(q.entries[q.current!]!.key).toBe(curKey);
              break;
            }
            case "remove": {
              q = q.remove(o.i);
              const valid = o.i >= 0 && o.i < before.length;
              expect(q.length).toBe(before.length - (valid ? 1 : 0));
              if (valid) expect(q.entries.map((e) => e.key)).toEqual(before.entries.filter((_, i) => i !== o.i).map((e) => e.key));
              if (curKey !== null && valid && before.current !== o.i) expect(q.entries[q.current!]!.key).toBe(curKey);
              break;
            }
            case "select":
              q = q.select(o.i);
              break;
            case "shuffle": {
              let s = o.seed >>> 0;
              q = q.shuffle(() => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32));
              expect([...q.entries.map((e) => e.key)].sort()).toEqual([...before.entries.map((e) => e.key)].sort());
              if (curKey !== null) expect(q.entries[0]!.key).toBe(curKey);
              break;
            }
          }
          // Invariants after every operation.
          if (q.length === 0) expect(q.current).toBeNull();
          else expect(q.current).not.toBeNull();
          if (q.current !== null) expect(q.current).toBeGreaterThanOrEqual(0), expect(q.current).toBeLessThan(q.length);
          expect(new Set(q.entries.map((e) => e.key)).size).toBe(q.length);
        }
      }),
      { numRuns: 300 },
    );
  });
});
