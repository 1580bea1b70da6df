/**
 * The one error class of `crypto/`. Every code is also a key of ERROR_CODES in rpc/errors.ts, so the
 * RPC layer maps it to a JSON-RPC code without a second table. Messages never carry secrets, raw
 * parameters or library stack text.
 */
export const CRYPTO_ERROR_CODES = [
  'ERR_UNSUPPORTED',
  'ERR_DECRYPT_FAILED',
  'ERR_BAD_CIPHERTEXT',
  'ERR_BAD_SIGNATURE',
  'ERR_BAD_KEY',
  'ERR_SEALED_DATA_CORRUPT',
  'ERR_INVALID_PARAMS',
] as const;

export type CryptoErrorCode = (typeof CRYPTO_ERROR_CODES)[number];

export class CryptoError extends Error {
  readonly code: CryptoErrorCode;

  constructor(code: CryptoErrorCode, message: string) {
    super(message);
    this.name = 'CryptoError';
    this.code = code;
  }
}
