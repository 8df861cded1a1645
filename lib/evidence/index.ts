export { parseEvidence, parseEvidenceAll, parseEvidenceStream, EvidenceError, type EvidenceErrorCode, type StreamOptions } from "./detect";
export { preAuthEncoding } from "./dsse";
export * from "./model";
