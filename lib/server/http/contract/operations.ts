// Every API operation: its route template (the folder under app/), method, who may call it, and the schemas its route
// parses with, in one list per area (ops-*.ts). The OpenAPI document is generated from this list
// (lib/server/http/openapi/build-openapi.ts), and lib/server/http/openapi/openapi.test.ts fails when a route file or an
// exported method is missing here, or when an entry names a route that does not exist.
import { OPS_PUBLIC } from "./ops-public";
import { OPS_IMAGES } from "./ops-images";
import { OPS_PROMOTIONS } from "./ops-promotions";
import { OPS_ADMISSION } from "./ops-admission";
import { OPS_STAGES } from "./ops-stages";
import { OPS_REGISTRIES } from "./ops-registries";
import { OPS_PEOPLE } from "./ops-people";
import type { Operation } from "./operation";

export type { HttpMethod, Operation } from "./operation";

export const OPERATIONS: readonly Operation[] = [
  ...OPS_PUBLIC, // public and sign-in
  ...OPS_IMAGES, // images and evidence
  ...OPS_PROMOTIONS, // promotion requests, approvals, waivers, revocations
  ...OPS_ADMISSION, // admission
  ...OPS_STAGES, // stages and keys
  ...OPS_REGISTRIES, // registries and sync
  ...OPS_PEOPLE, // people, tokens, webhooks, audit
];
