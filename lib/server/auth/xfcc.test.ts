import { describe, expect, it } from "vitest";
import { parseXfcc, XFCC_MAX_LENGTH } from "./xfcc";

const ok = (header: string) => {
  const r = parseXfcc(header);
  if (!r.ok) throw new Error(`expected a parse, got: ${r.reason}`);
  return r.elements.map((e) => e.map((p) => [p.key, p.value]));
};
const reason = (header: string) => {
  const r = parseXfcc(header);
  return r.ok ? null : r.reason;
};

describe("parseXfcc (Envoy's x-forwarded-client-cert grammar)", () => {
  it("reads one element of key=value pairs, keys case-insensitive", () => {
    expect(ok(`By=spiffe://cluster.local/ns/a/sa/b;HASH=abc;Subject="CN=x,O=y";URI=spiffe://u;DNS=a.example;DNS=b.example`)).toEqual([
      [
        ["by", "spiffe://cluster.local/ns/a/sa/b"],
        ["hash", "abc"],
        ["subject", "CN=x,O=y"],
        ["uri", "spiffe://u"],
        ["dns", "a.example"],
        ["dns", "b.example"],
      ],
    ]);
  });

  it('keeps commas, semicolons and equals signs inside quoted values, and unescapes \\"', () => {
    expect(ok(`Subject="CN=a\\"b,c;d=e";Hash=1`)).toEqual([
      [
        ["subject", 'CN=a"b,c;d=e'],
        ["hash", "1"],
      ],
    ]);
    // An escaped quote does not close the value: the comma after it is still inside.
    expect(ok(`Subject="x\\",By=evil";Hash=2`)).toEqual([
      [
        ["subject", 'x",By=evil'],
        ["hash", "2"],
      ],
    ]);
    expect(ok(`Subject="back\\\\slash"`)).toEqual([[["subject", "back\\slash"]]]);
  });

  it("splits elements on commas outside quotes (one per proxy hop), with optional whitespace", () => {
    expect(ok(`Hash=a;Subject="CN=1,2", By=p;Hash=b`)).toEqual([
      [
        ["hash", "a"],
        ["subject", "CN=1,2"],
      ],
      [
        ["by", "p"],
        ["hash", "b"],
      ],
    ]);
  });

  it("refuses an unclosed quote instead of letting it swallow the next element", () => {
    expect(reason(`Hash=a;Subject=",By=spiffe://proxy;Hash=b`)).toMatch(/never closed/);
    expect(reason(`Subject="x\\"`)).toMatch(/never closed/);
    expect(reason(`Subject="x\\`)).toMatch(/never closed/);
  });

  it("refuses malformed headers", () => {
    expect(reason("")).toMatch(/key is expected/);
    expect(reason("hello")).toMatch(/"=" is expected/);
    expect(reason("Hash=a,")).toMatch(/key is expected/);
    expect(reason("Hash=a;;By=b")).toMatch(/key is expected/);
    expect(reason("Hash=a,,By=b")).toMatch(/key is expected/);
    expect(reason("=a")).toMatch(/key is expected/);
    expect(reason(`Hash=a"b`)).toMatch(/unquoted value holds "/);
    expect(reason(`By=a=b`)).toMatch(/unquoted value holds =/);
    expect(reason(`Subject="a"b`)).toMatch(/"," or ";" is expected/);
    expect(reason("Hash=a;hash=b")).toMatch(/twice/);
    expect(reason(`Cert="x";Cert="y"`)).toMatch(/twice/);
    expect(reason("Hash=a\nBy=b")).toMatch(/control character/);
    expect(reason("Hash=\u0000")).toMatch(/control character/);
    expect(reason(`Subject="${"a".repeat(XFCC_MAX_LENGTH)}"`)).toMatch(/over/);
  });

  it("is linear on hostile input", () => {
    const t0 = performance.now();
    for (const h of [`Subject="${"\\".repeat(16_000)}`, `${"a=b;".repeat(4_000)}`, `${'a="",'.repeat(3_000)}a=b`, ",".repeat(16_000)]) parseXfcc(h);
    expect(performance.now() - t0).toBeLessThan(500);
  });
});
