/**
 * The one error class of the peer plane. Its codes are a closed set, each a key of ERROR_CODES in
 * rpc/errors.ts (cluster/ may not import rpc/, so the set is repeated here as a type).
 * Messages name validators by id and never carry bodies, shares or raw parameters.
 */
export const CLUSTER_ERROR_CODES = [
  'ERR_PEER_FAILED',
  'ERR_NOT_ENOUGH_VALIDATORS',
  'ERR_TIMEOUT',
  'ERR_UNAVAILABLE',
  'ERR_INVALID_PARAMS',
] as const;

export type ClusterErrorCode = (typeof CLUSTER_ERROR_CODES)[number];

export interface ClusterErrorDetails {
  /** The validators that failed, did not answer, or are missing. */
  validators?: number[];
  /** When a peer answered with an error: the code and message it sent (ERR_PEER_FAILED). */
  remote?: { code: string; message: string };
}

export class ClusterError extends Error {
  readonly code: ClusterErrorCode;
  readonly details: ClusterErrorDetails | undefined;
  constructor(code: ClusterErrorCode, message: string, details?: ClusterErrorDetails) {
    super(message);
    this.name = 'ClusterError';
    this.code = code;
    this.details = details;
  }
}

export function isClusterError(e: unknown, code?: ClusterErrorCode): e is ClusterError {
  return e instanceof ClusterError && (code === undefined || e.code === code);
}

/**
 * The code a remote validator answered with: the peer plane wraps a peer's error as
 * ERR_PEER_FAILED with the peer's own code in details.remote.code; local errors keep their code.
 */
export function remoteCodeOf(e: unknown): string | undefined {
  const d = e as { code?: string; details?: { remote?: { code?: string } } } | null;
  return d?.details?.remote?.code ?? d?.code;
}
