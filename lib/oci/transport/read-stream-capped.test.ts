// readStreamCapped reads a body with listeners (not `for await`): it must still cap, fail on errors and on a body
// that closes before its end, and read a stream that already failed as `for await` did.
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { OciError } from "../digest";
import { readStreamCapped } from "./dispatched-response";

const chunks = (...parts: string[]) =>
  Readable.from(
    parts.map((p) => Buffer.from(p)),
    { objectMode: false },
  );

describe("readStreamCapped", () => {
  it("joins the chunks of a body and counts what it read", async () => {
    const read = { bytes: 0 };
    expect((await readStreamCapped(chunks("ab", "cd", "e"), 10, "body", read)).toString()).toBe("abcde");
    expect(read.bytes).toBe(5);
  });

  it("refuses a body past the limit with TOO_LARGE and destroys the stream", async () => {
    const s = chunks("1234", "5678", "9");
    const err = await readStreamCapped(s, 6, "manifest x", { bytes: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OciError);
    expect((err as OciError).code).toBe("TOO_LARGE");
    expect((err as OciError).message).toContain("manifest x exceeds the 6-byte limit");
    expect(s.destroyed).toBe(true);
  });

  it("a stream that errors when destroyed (undici's body emits AbortError) past the limit raises nothing uncaught", async () => {
    let sent = 0;
    const s = new Readable({
      read() {
        this.push(sent++ < 4 ? Buffer.alloc(4, 1) : null);
      },
      destroy(_err, cb) {
        cb(Object.assign(new Error("Request aborted"), { name: "AbortError", code: "UND_ERR_ABORTED" }));
      },
    });
    const err = await readStreamCapped(s, 6, "blob", { bytes: 0 }).catch((e: unknown) => e);
    expect((err as OciError).code).toBe("TOO_LARGE");
    // The AbortError is emitted on a later tick: without a listener it would end the process.
    await new Promise((r) => setTimeout(r, 20));
    expect(s.destroyed).toBe(true);
  });

  it("rejects with the stream's error (a timeout stays recognisable)", async () => {
    const s = new Readable({ read() {} });
    const p = readStreamCapped(s, 100, "body");
    s.push(Buffer.from("part"));
    const e = Object.assign(new Error("request did not finish"), { name: "TimeoutError" });
    setImmediate(() => s.destroy(e));
    await expect(p).rejects.toBe(e);
  });

  it("rejects a body that closes before its end", async () => {
    const s = new Readable({ read() {} });
    const p = readStreamCapped(s, 100, "body");
    s.push(Buffer.from("part"));
    setImmediate(() => s.destroy());
    await expect(p).rejects.toMatchObject({ code: "ERR_STREAM_PREMATURE_CLOSE" });
  });

  it("reads a stream that failed before it arrived as an error, not a hang", async () => {
    const s = new Readable({ read() {} });
    s.on("error", () => {});
    s.destroy(new Error("connection reset"));
    await new Promise((r) => setImmediate(r));
    await expect(readStreamCapped(s, 100, "body")).rejects.toThrow();
  });

  it("reads an empty body as an empty buffer", async () => {
    const s = new Readable({ read() {} });
    s.push(null);
    expect((await readStreamCapped(s, 100, "body")).byteLength).toBe(0);
  });
});
