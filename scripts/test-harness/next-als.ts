// Next's server bootstrap (node-environment) puts AsyncLocalStorage on globalThis before loading app code; its
// request-scope stores are created from it. Imported first by routes.ts so the same holds under vitest.
import { AsyncLocalStorage } from "node:async_hooks";

(globalThis as { AsyncLocalStorage?: unknown }).AsyncLocalStorage ??= AsyncLocalStorage;
