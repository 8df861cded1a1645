import "server-only";
import { type Actor } from "../actor";
import { registryView } from "./registry-view";
import { findRegistry } from "./find-registry";

export async function getRegistry({ name }: { actor: Actor; name: string }) {
  return registryView(await findRegistry(name));
}
