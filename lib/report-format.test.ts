import { describe, expect, it } from "vitest";
import { csvCell, parseReportFormat, parseReportPeriod, reportCsv, REPORT_MAX_DAYS } from "./report-format";

const sp = (q: string) => new URLSearchParams(q);
const now = new Date("2026-12-03T12:00:00Z");

describe("report CSV", () => {
  it("quotes per RFC 4180 and doubles quotes", () => {
    expect(csvCell('say "hi", then\r\nleave')).toBe('"say ""hi"", then\r\nleave"');
    expect(csvCell("plain")).toBe("plain");
    expect(csvCell(null)).toBe("");
    expect(csvCell(4.5)).toBe("4.5");
    expect(csvCell(true)).toBe("true");
  });

  it("neutralises cells a spreadsheet would run as a formula", () => {
    // Also after leading white space, in full-width forms, and after a leading line feed (free-text comments).
    for (const bad of ['=HYPERLINK("http://evil")', "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx", "\n=1+1", "  =1+1", "\u00a0@x", "\uff1dSUM(A1)"]) {
      const c = csvCell(bad);
      expect(c.startsWith("\"'"), bad).toBe(true);
    }
    expect(csvCell("a = b")).toBe("a = b");
    // Negative numbers stay numbers: only text is neutralised.
    expect(csvCell(-3)).toBe("-3");
  });

  it("writes a header row and CRLF line ends", () => {
    expect(
      reportCsv({
        columns: ["a", "b"],
        rows: [
          ["x", 1],
          ["=1", null],
        ],
      }),
    ).toBe('a,b\r\nx,1\r\n"\'=1",\r\n');
  });
});

describe("report period", () => {
  it("defaults to the last 30 days ending now", () => {
    const p = parseReportPeriod(sp(""), now);
    expect(p.to).toEqual(now);
    expect(p.from).toEqual(new Date("2026-11-03T12:00:00Z"));
  });

  it("a bare `to` date includes that whole day", () => {
    const p = parseReportPeriod(sp("from=2026-11-01&to=2026-11-30"), now);
    expect(p.from.toISOString()).toBe("2026-11-01T00:00:00.000Z");
    expect(p.to.toISOString()).toBe("2026-12-01T00:00:00.000Z");
  });

  it("refuses bad dates, inverted and over-long periods, naming the field", () => {
    const bad: [string, string][] = [
      ["from=tomorrow", "from"],
      ["from=2026-02-30", "from"],
      ["to=2026-1-1", "to"],
      ["from=2026-05-01&to=2026-04-01", "to"],
      [`from=2020-01-01&to=2026-01-01`, "to"],
      ["from=2026-01-01T00:00", "from"],
    ];
    for (const [q, field] of bad) expect(() => parseReportPeriod(sp(q), now), q).toThrow(expect.objectContaining({ code: "INVALID_INPUT", field }));
    expect(() => parseReportPeriod(sp(`from=2025-12-03&to=2026-12-03`), now)).not.toThrow();
    expect(REPORT_MAX_DAYS).toBe(366);
  });

  it("accepts csv and json only", () => {
    expect(parseReportFormat(null)).toBe("json");
    expect(parseReportFormat("csv")).toBe("csv");
    expect(() => parseReportFormat("xlsx")).toThrow(expect.objectContaining({ field: "format" }));
  });
});
