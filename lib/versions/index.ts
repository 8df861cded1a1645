export { compareVersions, normalizeEcosystem, type Ecosystem } from "./compare";
export { matches, parseQuery, formatConstraints, QueryError, type Constraint, type Op, type PackageQuery } from "./range";
