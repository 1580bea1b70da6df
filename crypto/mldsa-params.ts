/**
 * ML-DSA parameter sets (FIPS 204 §4, Table 1) and the byte sizes derived from them (Table 2).
 * Used by the threshold ML-DSA code in crypto/threshold-mldsa-*.ts, which re-implements the
 * FIPS 204 internals that @noble/post-quantum does not export (it exports only the whole-key
 * sign/verify/keygen and the generic NTT/XOF helpers).
 */

/** Every ML-DSA level shares q, n and d (FIPS 204 §4). */
export const Q = 8380417; // q = 2^23 − 2^13 + 1
export const N = 256;
export const D = 13; // dropped bits of t (Power2Round)

export type MlDsaLevel = 'ml-dsa-44' | 'ml-dsa-65' | 'ml-dsa-87';
export const MLDSA_LEVELS: readonly MlDsaLevel[] = ['ml-dsa-44', 'ml-dsa-65', 'ml-dsa-87'];

export interface MlDsaParams {
  readonly name: MlDsaLevel;
  /** Byte code used in share blobs (44, 65 or 87). */
  readonly code: number;
  readonly k: number;
  readonly l: number;
  readonly eta: number;
  readonly tau: number;
  /** β = τ·η */
  readonly beta: number;
  readonly gamma1: number;
  readonly gamma2: number;
  readonly omega: number;
  /** λ/4: length of the commitment hash c̃ in bytes. */
  readonly cTildeBytes: number;
  /** Bits per coefficient of a packed z (bitlen(2γ1 − 1)). */
  readonly zBits: number;
  /** Bits per coefficient of a packed w1 (bitlen((q−1)/(2γ2) − 1)). */
  readonly w1Bits: number;
  /** Bits per coefficient of a packed η-bounded polynomial. */
  readonly etaBits: number;
  readonly publicKeyBytes: number;
  readonly signatureBytes: number;
}

function params(name: MlDsaLevel, code: number, k: number, l: number, eta: number, tau: number, gamma1: number, gamma2: number, omega: number, lambda: number): MlDsaParams {
  const zBits = gamma1 === 1 << 17 ? 18 : 20;
  const cTildeBytes = lambda / 4;
  return Object.freeze({
    name,
    code,
    k,
    l,
    eta,
    tau,
    beta: tau * eta,
    gamma1,
    gamma2,
    omega,
    cTildeBytes,
    zBits,
    w1Bits: gamma2 === (Q - 1) / 88 ? 6 : 4,
    etaBits: eta === 2 ? 3 : 4,
    // FIPS 204 Table 2: pk = 32 + 32·k·(bitlen(q−1) − d); sig = λ/4 + ℓ·32·(1 + bitlen(γ1−1)) + ω + k
    publicKeyBytes: 32 + 32 * k * 10,
    signatureBytes: cTildeBytes + l * 32 * zBits + omega + k,
  });
}

/** FIPS 204 Table 1. */
export const MLDSA: Readonly<Record<MlDsaLevel, MlDsaParams>> = Object.freeze({
  'ml-dsa-44': params('ml-dsa-44', 44, 4, 4, 2, 39, 1 << 17, (Q - 1) / 88, 80, 128),
  'ml-dsa-65': params('ml-dsa-65', 65, 6, 5, 4, 49, 1 << 19, (Q - 1) / 32, 55, 192),
  'ml-dsa-87': params('ml-dsa-87', 87, 8, 7, 2, 60, 1 << 19, (Q - 1) / 32, 75, 256),
});

export function isMlDsaLevel(x: unknown): x is MlDsaLevel {
  return typeof x === 'string' && Object.hasOwn(MLDSA, x);
}

export function levelFromCode(code: number): MlDsaParams | undefined {
  return MLDSA_LEVELS.map((l) => MLDSA[l]).find((p) => p.code === code);
}
