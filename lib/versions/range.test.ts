import { describe, expect, it } from "vitest";
import { formatConstraints, matches, parseQuery, QueryError } from "./range";

describe("parseQuery: plain ranges", () => {
  it("reads a name and one bound", () => {
    expect(parseQuery("openssl < 3.0.7")).toEqual({ name: "openssl", constraints: [{ op: "<", version: "3.0.7" }], syntax: "plain" });
    expect(parseQuery("openssl<3.0.7").constraints).toEqual([{ op: "<", version: "3.0.7" }]);
    expect(parseQuery("lodash <= 4.17.20").constraints).toEqual([{ op: "<=", version: "4.17.20" }]);
  });

  it("reads two bounds, with or without spaces and commas", () => {
    const want = [
      { op: ">=", version: "2.0.0" },
      { op: "<", version: "2.17.1" },
    ];
    expect(parseQuery("log4j-core >=2.0.0 <2.17.1").constraints).toEqual(want);
    expect(parseQuery("log4j-core >= 2.0.0, < 2.17.1").constraints).toEqual(want);
    expect(parseQuery("  log4j-core >=2.0.0,<2.17.1  ").constraints).toEqual(want);
  });

  it("reads a name alone as any version", () => {
    expect(parseQuery("lodash")).toEqual({ name: "lodash", constraints: null, syntax: "none" });
    expect(parseQuery("lodash *").constraints).toBeNull();
  });

  it("reads name@version, a bare version and == as an exact version", () => {
    expect(parseQuery("lodash@4.17.20").constraints).toEqual([{ op: "=", version: "4.17.20" }]);
    expect(parseQuery("lodash 4.17.20").constraints).toEqual([{ op: "=", version: "4.17.20" }]);
    expect(parseQuery("django == 3.2").constraints).toEqual([{ op: "=", version: "3.2" }]);
    const scoped = parseQuery("@babel/core@7.0.0");
    expect(scoped.name).toBe("@babel/core");
    expect(scoped.ecosystemHint).toBe("npm");
    expect(scoped.constraints).toEqual([{ op: "=", version: "7.0.0" }]);
  });

  it("reads Maven coordinates", () => {
    const q = parseQuery("org.apache.logging.log4j:log4j-core < 2.17.1");
    expect(q).toMatchObject({
      name: "log4j-core",
      namespace: "org.apache.logging.log4j",
      purlType: "maven",
      purl: "pkg:maven/org.apache.logging.log4j/log4j-core",
      ecosystemHint: "maven",
      ecosystem: "maven",
    });
    expect(q.constraints).toEqual([{ op: "<", version: "2.17.1" }]);
  });

  it("reads a purl with a plain range or a pinned version", () => {
    const q = parseQuery("pkg:deb/debian/openssl?arch=amd64 < 3.0.7");
    expect(q).toMatchObject({ name: "openssl", namespace: "debian", purlType: "deb", purl: "pkg:deb/debian/openssl", ecosystemHint: "deb" });
    expect(q.constraints).toEqual([{ op: "<", version: "3.0.7" }]);
    expect(parseQuery("pkg:npm/lodash@4.17.20").constraints).toEqual([{ op: "=", version: "4.17.20" }]);
    expect(parseQuery("pkg:npm/%40babel/core")).toMatchObject({ name: "core", namespace: "@babel", purl: "pkg:npm/@babel/core", constraints: null });
    expect(parseQuery("pkg:alpine/busybox").ecosystemHint).toBe("apk");
  });
});

describe("parseQuery: vers ranges", () => {
  it("reads a purl followed by a vers range", () => {
    const q = parseQuery("pkg:maven/org.apache.logging.log4j/log4j-core vers:maven/>=2.0.0|<2.17.1");
    expect(q).toEqual({
      name: "log4j-core",
      namespace: "org.apache.logging.log4j",
      purlType: "maven",
      purl: "pkg:maven/org.apache.logging.log4j/log4j-core",
      constraints: [
        { op: ">=", version: "2.0.0" },
        { op: "<", version: "2.17.1" },
      ],
      ecosystemHint: "maven",
      ecosystem: "maven",
      syntax: "vers",
    });
  });

  it("reads the purl@vers: form and a plain name with vers", () => {
    const glued = parseQuery("pkg:maven/org.apache.logging.log4j/log4j-core@vers:maven/>=2.0.0|<2.17.1");
    expect(glued.constraints).toHaveLength(2);
    expect(glued.purl).toBe("pkg:maven/org.apache.logging.log4j/log4j-core");
    const named = parseQuery("openssl vers:apk/<3.0.7-r0");
    expect(named).toMatchObject({ name: "openssl", purlType: "apk", ecosystemHint: "apk", constraints: [{ op: "<", version: "3.0.7-r0" }] });
  });

  it("reads exact versions, exclusions, * and percent-encoded versions", () => {
    expect(parseQuery("lodash vers:npm/1.2.3|2.0.0").constraints).toEqual([
      { op: "=", version: "1.2.3" },
      { op: "=", version: "2.0.0" },
    ]);
    expect(parseQuery("requests vers:pypi/!=2.0.0").constraints).toEqual([{ op: "!=", version: "2.0.0" }]);
    expect(parseQuery("lodash vers:npm/*").constraints).toBeNull();
    expect(parseQuery("foo vers:generic/<1.0%7C2").constraints).toEqual([{ op: "<", version: "1.0|2" }]);
    expect(parseQuery("lodash vers:npm/ >= 1.0.0 | < 2.0.0").constraints).toEqual([
      { op: ">=", version: "1.0.0" },
      { op: "<", version: "2.0.0" },
    ]);
  });
});

describe("parseQuery: errors say what is wrong", () => {
  const bad: [string, RegExp][] = [
    ["", /package name or purl/],
    ["   ", /package name or purl/],
    [">= 1.0", /start with a package name/],
    ["openssl >=", /needs a version/],
    ["openssl >=1 >=2", /more than one lower bound/],
    ["openssl <1 <=2", /more than one upper bound/],
    ["openssl >=3 <2", /range is empty/],
    ["openssl >2 <2", /range is empty/],
    ["openssl =1 <2", /exact version/],
    ["lodash ^4.0.0", /\^ and ~ ranges/],
    ["openssl <1 || >2", /vers range/],
    ["lodash@", /gives no version/],
    ["pkg:maven/a/b vers:npm/<1", /type maven but the range is vers:npm/],
    ["pkg:maven/a/b@1.0 vers:maven/<2", /pins version 1.0/],
    ["pkg:npm/lodash@4.17.20 < 5", /pins version/],
    ["vers:maven/<1", /needs a package/],
    ["lodash vers:npm", /not a vers range/],
    ["lodash vers:npm/", /no constraints/],
    ["lodash vers:npm/<1||>2", /empty constraint/],
    ["lodash vers:npm/<", /has no version/],
    ["lodash vers:npm/*|<2", /stands alone/],
    ["pkg:/", /not a valid purl/],
    ["x".repeat(1001), /longer than 1000/],
  ];
  for (const [q, msg] of bad) {
    it(`refuses ${JSON.stringify(q.length > 40 ? `${q.slice(0, 20)}…` : q)}`, () => {
      expect(() => parseQuery(q)).toThrow(QueryError);
      expect(() => parseQuery(q)).toThrow(msg);
    });
  }
});

describe("matches", () => {
  it("matches log4j-core >=2.0.0 <2.17.1 with Maven ordering", () => {
    const { constraints } = parseQuery("pkg:maven/org.apache.logging.log4j/log4j-core vers:maven/>=2.0.0|<2.17.1");
    const yes = ["2.0.0", "2.0", "2.14.1", "2.15.0", "2.16.0", "2.17.0", "2.17.0-rc1", "2.3.1"];
    const no = ["1.2.17", "2.0-beta9", "2.0-rc1", "2.17.1", "2.17.2", "2.20.0", "3.0.0"];
    for (const v of yes) expect(matches("maven", v, constraints), v).toBe(true);
    for (const v of no) expect(matches("maven", v, constraints), v).toBe(false);
  });

  it("matches lodash <= 4.17.20 with semver", () => {
    const { constraints } = parseQuery("lodash <= 4.17.20");
    expect(matches("npm", "4.17.20", constraints)).toBe(true);
    expect(matches("npm", "4.17.19", constraints)).toBe(true);
    expect(matches("npm", "4.17.21", constraints)).toBe(false);
    expect(matches("npm", "4.17.21-pre.1", constraints)).toBe(false);
  });

  it("compares openssl < 3.0.7 by each distribution's rules", () => {
    const { constraints } = parseQuery("openssl < 3.0.7");
    expect(matches("apk", "3.0.6-r0", constraints)).toBe(true);
    expect(matches("apk", "3.0.7-r0", constraints)).toBe(false); // -r0 is a revision of 3.0.7, not below it
    expect(matches("apk", "3.0.7_rc1-r0", constraints)).toBe(true);
    expect(matches("deb", "3.0.2-0ubuntu1.10", constraints)).toBe(true);
    expect(matches("deb", "3.0.7~rc1-1", constraints)).toBe(true);
    expect(matches("deb", "3.0.7-1", constraints)).toBe(false);
    expect(matches("rpm", "3.0.7-1.el9", constraints)).toBe(false);
    // An unstated epoch in the bound leaves the package's epoch out: RHEL 8's openssl is 1:1.1.1k.
    expect(matches("rpm", "1:1.1.1k-7.el8_6", constraints)).toBe(true);
    expect(matches("deb", "1:3.0.2-1", constraints)).toBe(true);
    // A stated epoch is compared.
    expect(matches("rpm", "1:1.1.1k-7.el8_6", parseQuery("openssl vers:rpm/<0:3.0.7").constraints)).toBe(false);
  });

  it("evaluates vers unions, exclusions and exact lists", () => {
    const union = parseQuery("foo vers:npm/<1.0.0|>=2.0.0|<3.0.0").constraints;
    expect(matches("npm", "0.5.0", union)).toBe(true);
    expect(matches("npm", "1.5.0", union)).toBe(false);
    expect(matches("npm", "2.0.0", union)).toBe(true);
    expect(matches("npm", "2.5.0", union)).toBe(true);
    expect(matches("npm", "3.0.0", union)).toBe(false);

    const except = parseQuery("requests vers:pypi/!=2.0.0").constraints;
    expect(matches("pypi", "2.0.0", except)).toBe(false);
    expect(matches("pypi", "2.0", except)).toBe(false);
    expect(matches("pypi", "2.0.1", except)).toBe(true);

    const exact = parseQuery("log4j-core vers:maven/2.17.0|2.17.1").constraints;
    expect(matches("maven", "2.17.0", exact)).toBe(true);
    expect(matches("maven", "2.17.1.0", exact)).toBe(true);
    expect(matches("maven", "2.17.2", exact)).toBe(false);

    const above = parseQuery("x > 1.0").constraints;
    expect(matches("generic", "1.0", above)).toBe(false);
    expect(matches("generic", "1.0.1", above)).toBe(true);
  });

  it("treats null and [] as any version", () => {
    expect(matches("npm", "1.0.0", null)).toBe(true);
    expect(matches("npm", "1.0.0", [])).toBe(true);
    expect(formatConstraints(null)).toBe("any version");
    expect(formatConstraints(parseQuery("a >=1 <2").constraints)).toBe(">=1 <2");
  });
});
