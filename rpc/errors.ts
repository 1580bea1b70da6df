/**
 * The one table that maps every K-Chain error code to a JSON-RPC error code (WIRE.md: standard
 * codes -32700…-32603, K-Chain codes -32000…-32099). Every folder's error class carries a `code`
 * from its own closed set; all of those codes are listed here, and a unit test checks that no code
 * is missing. An error whose code is not here becomes -32603 with no internal detail.
 */
export const ERROR_CODES = {
  // JSON-RPC 2.0 standard codes
  ERR_PARSE: -32700,
  ERR_INVALID_REQUEST: -32600,
  ERR_METHOD_NOT_FOUND: -32601,
  ERR_INVALID_PARAMS: -32602,
  ERR_INTERNAL: -32603,
  // K-Chain codes
  ERR_KEY_NOT_FOUND: -32001,
  ERR_KEY_EXISTS: -32002,
  ERR_UNAUTHENTICATED: -32003,
  ERR_FORBIDDEN: -32004,
  ERR_UNSUPPORTED: -32005,
  ERR_DECRYPT_FAILED: -32006,
  ERR_KEY_DISABLED: -32007,
  ERR_SEALED_DATA_CORRUPT: -32008,
  ERR_NOT_ENOUGH_VALIDATORS: -32009,
  ERR_PEER_FAILED: -32010,
  ERR_TIMEOUT: -32011,
  ERR_SHARE_NOT_FOUND: -32012,
  ERR_BODY_TOO_LARGE: -32013,
  ERR_CONFLICT: -32014,
  ERR_BAD_CIPHERTEXT: -32015,
  ERR_BAD_SIGNATURE: -32016,
  ERR_BAD_KEY: -32017,
  ERR_UNAVAILABLE: -32018,
  ERR_PLAINTEXT_REFUSED: -32019,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** One line per code for the README table and `kchain errors`. */
export const ERROR_DESCRIPTIONS: Record<ErrorCode, string> = {
  ERR_PARSE: 'the body is not valid JSON (id is null)',
  ERR_INVALID_REQUEST: 'not a JSON-RPC 2.0 request object (or an empty batch)',
  ERR_METHOD_NOT_FOUND: 'no such method',
  ERR_INVALID_PARAMS: 'a parameter is missing, of the wrong type, unknown, or not valid base64',
  ERR_INTERNAL: 'a server fault; `data` holds a request id to find it in the validator log',
  ERR_KEY_NOT_FOUND: 'no key with that id or name',
  ERR_KEY_EXISTS: 'a key with that name already exists in the cluster',
  ERR_UNAUTHENTICATED: 'no client certificate, a certificate not from the cluster CA, or a wrong bearer token',
  ERR_FORBIDDEN: "the caller's role may not call this method",
  ERR_UNSUPPORTED: 'the algorithm, format or option is not supported for this key',
  ERR_DECRYPT_FAILED: 'the ciphertext does not authenticate under this key (wrong key, AAD or tampered)',
  ERR_KEY_DISABLED: 'the key is not active (disabled, compromised, revoked or pending)',
  ERR_SEALED_DATA_CORRUPT: 'a sealed value in the database failed authentication (tampered or damaged)',
  ERR_NOT_ENOUGH_VALIDATORS: 'too few validators are reachable or configured; the message names them',
  ERR_PEER_FAILED: 'a validator failed or misbehaved during a ceremony; the message names it',
  ERR_TIMEOUT: 'the request did not finish within its deadline',
  ERR_SHARE_NOT_FOUND: 'no stored share matches',
  ERR_BODY_TOO_LARGE: 'the request body exceeds the configured limit',
  ERR_CONFLICT: 'the request conflicts with the current state (the message says what to do instead)',
  ERR_BAD_CIPHERTEXT: 'the ciphertext is malformed, truncated or of another version or algorithm',
  ERR_BAD_SIGNATURE: 'the signature bytes are malformed for this algorithm',
  ERR_BAD_KEY: 'a public key given in the request is malformed',
  ERR_UNAVAILABLE: 'the validator is starting or shutting down',
  ERR_PLAINTEXT_REFUSED: 'plain HTTP is accepted only from loopback when the config allows it; use mTLS',
};

/**
 * Any error a service throws on purpose. Other folders define their own classes with their own
 * code sets; the transport only needs `code` (a key of ERROR_CODES) and `message` (safe to show).
 */
export interface ExposedError {
  readonly code: string;
  readonly message: string;
}

export class RpcError extends Error implements ExposedError {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'RpcError';
    this.code = code;
  }
}

export function isExposedError(e: unknown): e is ExposedError {
  return (
    e instanceof Error &&
    typeof (e as { code?: unknown }).code === 'string' &&
    Object.hasOwn(ERROR_CODES, (e as unknown as { code: string }).code)
  );
}

export function rpcCodeOf(code: string): number {
  return Object.hasOwn(ERROR_CODES, code) ? ERROR_CODES[code as ErrorCode] : ERROR_CODES.ERR_INTERNAL;
}
