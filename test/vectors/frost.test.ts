/**
 * RFC 9591 Appendix E test vectors (../shared/vectors/frost/, beside the repository) run through
 * the project's own FROST adapter (crypto/frost.ts): dealing from the given polynomial (noble),
 * then round-one commitments from the given nonce randomness, binding factors, signature
 * shares, share verification, aggregation and verification, all of which run on the native fast
 * path (crypto/frost-fast.ts: libsodium for Ed25519, libsecp256k1 for secp256k1).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromHex, toHex } from '../../crypto/bytes.js';
import {
  aggregate,
  commit,
  dealFromPolynomial,
  groupPublicKey,
  signShare,
  verifyShare,
  verifySignature,
  type FrostSuiteName,
  type WireNonceCommitments,
} from '../../crypto/frost.js';
import { bindingFactors } from '../../crypto/frost-fast.js';

interface Vector {
  config: { MAX_PARTICIPANTS: string; MIN_PARTICIPANTS: string; name: string };
  inputs: {
    participant_list: number[];
    group_secret_key: string;
    group_public_key: string;
    message: string;
    share_polynomial_coefficients: string[];
    participant_shares: { identifier: number; participant_share: string }[];
  };
  round_one_outputs: {
    outputs: {
      identifier: number;
      hiding_nonce_randomness: string;
      binding_nonce_randomness: string;
      hiding_nonce: string;
      binding_nonce: string;
      hiding_nonce_commitment: string;
      binding_nonce_commitment: string;
      binding_factor: string;
    }[];
  };
  round_two_outputs: { outputs: { identifier: number; sig_share: string }[] };
  final_output: { sig: string };
}

/** ../shared/vectors/frost relative to the repository root: from dist/test/vectors/ or the cwd. */
function vectorDir(): string {
  const fromDist = fileURLToPath(new URL('../../../../shared/vectors/frost/', import.meta.url));
  const candidates = [fromDist, resolve(process.cwd(), '../shared/vectors/frost'), resolve(process.cwd(), 'shared/vectors/frost')];
  const found = candidates.find((d) => existsSync(join(d, 'frost-ed25519-sha512.json')));
  if (!found) throw new Error(`RFC 9591 vectors not found (looked in ${candidates.join(', ')})`);
  return found;
}

function load(file: string): Vector {
  return JSON.parse(readFileSync(join(vectorDir(), file), 'utf8')) as Vector;
}

const b64hex = (s: string) => toHex(new Uint8Array(Buffer.from(s, 'base64')));

function run(file: string, suite: FrostSuiteName, name: string): void {
  const v = load(file);
  assert.equal(v.config.name, name);
  const t = Number(v.config.MIN_PARTICIPANTS);
  const n = Number(v.config.MAX_PARTICIPANTS);
  const ids = Array.from({ length: n }, (_, i) => i + 1);
  const msg = fromHex(v.inputs.message);

  // Key generation (RFC 9591 Appendix C) from the vector's polynomial.
  const { public: pub, shares } = dealFromPolynomial(
    suite,
    ids,
    t,
    fromHex(v.inputs.group_secret_key),
    v.inputs.share_polynomial_coefficients.map(fromHex),
  );
  assert.equal(b64hex(pub.commitments[0]!), v.inputs.group_public_key, 'group public key');
  assert.deepEqual(groupPublicKey(suite, pub), fromHex(v.inputs.group_public_key));
  for (const p of v.inputs.participant_shares) assert.equal(toHex(shares.get(p.identifier)!), p.participant_share, `share ${p.identifier}`);

  // Round one: commitments from the vector's nonce randomness (hiding first, then binding).
  const signers = v.inputs.participant_list;
  const nonces = new Map<number, ReturnType<typeof commit>['nonces']>();
  const list: WireNonceCommitments[] = [];
  for (const o of v.round_one_outputs.outputs) {
    const draws = [fromHex(o.hiding_nonce_randomness), fromHex(o.binding_nonce_randomness)];
    const rng = (len: number) => {
      const d = draws.shift();
      assert.ok(d && d.length === len, 'commit draws two 32-byte values');
      return d;
    };
    const r = commit(suite, o.identifier, shares.get(o.identifier)!, rng);
    assert.equal(toHex(r.nonces.hiding), o.hiding_nonce, `hiding nonce ${o.identifier}`);
    assert.equal(toHex(r.nonces.binding), o.binding_nonce, `binding nonce ${o.identifier}`);
    assert.equal(b64hex(r.commitments.hiding), o.hiding_nonce_commitment, `hiding commitment ${o.identifier}`);
    assert.equal(b64hex(r.commitments.binding), o.binding_nonce_commitment, `binding commitment ${o.identifier}`);
    nonces.set(o.identifier, r.nonces);
    list.push(r.commitments);
  }
  assert.deepEqual(list.map((c) => c.id), signers);

  // Binding factors (§4.4), computed by the fast path from the wire commitments.
  const rho = bindingFactors(
    suite,
    fromHex(v.inputs.group_public_key),
    list.map((c) => ({ id: c.id, hiding: new Uint8Array(Buffer.from(c.hiding, 'base64')), binding: new Uint8Array(Buffer.from(c.binding, 'base64')) })),
    msg,
  );
  for (const o of v.round_one_outputs.outputs) assert.equal(toHex(rho.get(o.identifier)!), o.binding_factor, `binding factor ${o.identifier}`);

  // Round two: signature shares, each verified as a coordinator would.
  const sigShares = new Map<number, Uint8Array>();
  for (const o of v.round_two_outputs.outputs) {
    const s = signShare(suite, o.identifier, shares.get(o.identifier)!, pub, nonces.get(o.identifier)!, list, msg);
    assert.equal(toHex(s), o.sig_share, `signature share ${o.identifier}`);
    assert.equal(verifyShare(suite, pub, list, msg, o.identifier, s), true);
    sigShares.set(o.identifier, s);
  }

  // Aggregation.
  const agg = aggregate(suite, pub, list, msg, sigShares);
  assert.ok(agg.ok, 'aggregate verifies');
  assert.equal(toHex(agg.signature), v.final_output.sig, 'final signature');
  assert.equal(verifySignature(suite, fromHex(v.inputs.group_public_key), msg, agg.signature), true);
}

test('vector: RFC 9591 E.1 FROST(Ed25519, SHA-512) through crypto/frost.ts', () => {
  run('frost-ed25519-sha512.json', 'frost-ed25519', 'FROST(Ed25519, SHA-512)');
});

test('vector: RFC 9591 E.5 FROST(secp256k1, SHA-256) through crypto/frost.ts', () => {
  run('frost-secp256k1-sha256.json', 'secp256k1-rfc9591', 'FROST(secp256k1, SHA-256)');
});
