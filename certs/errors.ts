/**
 * The one error class of `certs/`. Its codes are keys of ERROR_CODES in rpc/errors.ts (certs may not
 * import rpc, so the strings are repeated here; the rpc unit test checks every code is in the table).
 * Messages name files and options, never key material.
 */
export const CERT_ERROR_CODES = ['ERR_INVALID_PARAMS', 'ERR_UNAUTHENTICATED'] as const;
export type CertErrorCode = (typeof CERT_ERROR_CODES)[number];

export class CertError extends Error {
  readonly code: CertErrorCode;
  constructor(code: CertErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CertError';
    this.code = code;
  }
}
