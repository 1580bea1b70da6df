/**
 * The error class of node/ (services, store, validator). Codes are a closed set; each is a key of
 * ERROR_CODES in rpc/errors.ts, which maps it to its JSON-RPC code. Messages are shown to callers:
 * they name ids and counts, never secrets or raw parameters.
 */
export const NODE_ERROR_CODES = [
  'ERR_KEY_NOT_FOUND',
  'ERR_KEY_EXISTS',
  'ERR_UNSUPPORTED',
  'ERR_KEY_DISABLED',
  'ERR_SEALED_DATA_CORRUPT',
  'ERR_NOT_ENOUGH_VALIDATORS',
  'ERR_PEER_FAILED',
  'ERR_SHARE_NOT_FOUND',
  'ERR_CONFLICT',
  'ERR_INVALID_PARAMS',
  'ERR_UNAUTHENTICATED',
  'ERR_FORBIDDEN',
  'ERR_UNAVAILABLE',
  'ERR_TIMEOUT',
] as const;

export type NodeErrorCode = (typeof NODE_ERROR_CODES)[number];

export class NodeError extends Error {
  readonly code: NodeErrorCode;
  readonly details?: { validators?: number[] };
  constructor(code: NodeErrorCode, message: string, details?: { validators?: number[] }) {
    super(message);
    this.name = 'NodeError';
    this.code = code;
    if (details) this.details = details;
  }
}
