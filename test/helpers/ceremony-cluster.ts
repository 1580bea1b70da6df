/**
 * In-process validators for the ceremony unit tests: real encrypted Stores, real evidence checks
 * (Authority, with a test CA and an admin certificate that signs requests), real key certificates
 * (Certifier, each validator with its own Ed25519 identity key), every ceremony of node/cluster.ts —
 * on the in-memory peer plane (test/helpers/fake-plane.ts). No sockets, no processes.
 */
import { X509Certificate, createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createCa, issueCertificate, generateIdentityKey } from '../../certs/ca.js';
import { ed25519RawPublicKey } from '../../cluster/envelope.js';
import { newNonce, signRequest, type EvidenceWire } from '../../cluster/evidence.js';
import { utf8 } from '../../crypto/bytes.js';
import { Authority } from '../../node/authority.js';
import { Cluster } from '../../node/cluster.js';
import { Membership } from '../../node/ceremonies/membership.js';
import { checkCreationEvidence } from '../../node/ceremonies/requests.js';
import { Certifier } from '../../node/keys/certified.js';
import { METHOD_ROLES } from '../../node/methods/common.js';
import { Store } from '../../node/store/store.js';
import type { MldsaFault } from '../../node/config/config.js';
import { FakeNet, FakePlane } from './fake-plane.js';

export interface TestNode {
  id: number;
  store: Store;
  cluster: Cluster;
  net: FakeNet;
  logs: string[];
  authority: Authority;
}

export interface CeremonyCluster {
  plane: FakePlane;
  nodes: Map<number, TestNode>;
  node(id: number): TestNode;
  /** Rebuilds a validator's in-memory state (a restart), keeping its store; optional test faults. */
  restart(id: number, faults?: Faults): void;
  /** Evidence of a request an admin signed (the default) or one the given validator vouches for. */
  /** `aud`: the validator the client sends it to (the coordinator; default 1). */
  evidence(method: string, params: Record<string, unknown>, opts?: { vouchedBy?: number; role?: 'client' | 'admin'; ts?: number; aud?: number }): EvidenceWire;
  close(): void;
}

/** Test faults a restarted validator runs with. */
export interface Faults {
  corruptPartials?: boolean;
  mldsaFault?: MldsaFault;
  corruptEcdsa?: string[];
  crashAt?: string[];
}

const FAKE_PEM = (id: number) => `-----validator-${id}-----`;

export async function ceremonyCluster(ids: readonly number[], opts: { acceptUnsigned?: boolean; defaults?: { threshold: number; totalShares: number; presignatures?: number; frostNonces?: number } } = {}): Promise<CeremonyCluster> {
  const root = mkdtempSync(join(tmpdir(), 'kchain-cer-'));
  const ca = await createCa({ commonName: 'ceremony test CA' });
  const caCert = new X509Certificate(ca.certPem);
  const signing = await generateIdentityKey();
  const admin = await issueCertificate({ ca, role: 'admin', name: 'ops', identityPublicKey: signing.publicKey });
  const client = await issueCertificate({ ca, role: 'client', name: 'wallet', identityPublicKey: signing.publicKey });
  const signingKey = createPrivateKey(signing.privatePem);
  const plane = new FakePlane(ids);
  const identities = new Map<number, { priv: KeyObject; pub: Uint8Array }>();
  for (const id of ids) {
    const { privateKey } = generateKeyPairSync('ed25519');
    identities.set(id, { priv: privateKey, pub: ed25519RawPublicKey(privateKey) });
  }
  const nodes = new Map<number, TestNode>();

  const build = (id: number, store: Store, logs: string[], faults: Faults = {}): TestNode => {
    const log = pino({ level: 'debug' }, { write: (s: string) => void logs.push(s) });
    const membership = new Membership({ selfId: id, selfAddress: `v${id}`, store, log, now: Date.now, configPeers: ids.filter((x) => x !== id).map((x) => ({ id: x, address: `v${x}` })) });
    const authority = new Authority({ selfId: id, ca: caCert, isRevoked: (s) => membership.isRevoked(s), rolesOf: (m) => METHOD_ROLES[m], acceptUnsigned: opts.acceptUnsigned ?? true });
    const net = new FakeNet(id, plane, (ev, ctx) => (ctx.lasting ? authority.check(ev, ctx.from, { fresh: false }) : authority.authorize(ev, ctx)));
    const certifier = new Certifier({
      selfId: id,
      store,
      identityKey: identities.get(id)!.priv,
      certificatePem: FAKE_PEM(id),
      pinned: (x) => identities.get(x)?.pub,
      fromCertificate: (pem) => {
        const m = /^-----validator-(\d+)-----$/.exec(pem);
        const x = m ? Number(m[1]) : 0;
        return identities.has(x) ? { validatorId: x, identityPublicKey: identities.get(x)!.pub } : undefined;
      },
      isRevoked: (s) => membership.isRevoked(s),
      checkCreation: (rec, ev, from) =>
        checkCreationEvidence((e, by) => authority.check(e, by, { fresh: false }), rec, ev, from, { members: membership.addresses(), defaults: opts.defaults ?? { threshold: 3, totalShares: ids.length } }),
      now: Date.now,
    });
    const cluster = new Cluster(
      {
        selfId: id,
        port: net,
        store,
        log,
        authority,
        certifier,
        timeoutMs: 2_000,
        now: Date.now,
        memberAddresses: () => membership.addresses(),
        defaults: { presignatures: 0, frostNonces: 0, ...(opts.defaults ?? { threshold: 3, totalShares: ids.length }) },
        faults: { corruptPartials: faults.corruptPartials ?? false, crashAt: faults.crashAt ?? [], corruptEcdsa: faults.corruptEcdsa ?? [], ...(faults.mldsaFault ? { mldsaFault: faults.mldsaFault } : {}) },
      },
      net,
      membership,
    );
    membership.attach(net, { add: () => {}, remove: () => {} }, authority);
    return { id, store, cluster, net, logs, authority };
  };

  for (const id of ids) {
    const store = await Store.open({ path: join(root, `v${id}`, 'kchain.db'), password: utf8(`pw-${id}`), kdf: 'scrypt' });
    nodes.set(id, build(id, store, []));
  }

  return {
    plane,
    nodes,
    node: (id) => nodes.get(id)!,
    restart(id, faults) {
      const n = nodes.get(id)!;
      n.cluster.sweeper.stop();
      n.cluster.signing.stop();
      n.cluster.mldsa.stop();
      n.cluster.ecdsa.stop();
      n.cluster.ecdsaSetup.stop();
      n.cluster.dkg.stop();
      n.cluster.resharing.stop();
      plane.nets.delete(id);
      nodes.set(id, build(id, n.store, n.logs, faults));
    },
    evidence(method, params, o = {}) {
      if (o.vouchedBy !== undefined) return { v: 1, method, params, vouch: { caller: `${o.role ?? 'admin'}:loopback`, role: o.role ?? 'admin', ts: o.ts ?? Date.now(), nonce: newNonce() } };
      const cert = o.role === 'client' ? client.certPem : admin.certPem;
      return { v: 1, method, params, auth: signRequest(method, params, signingKey, cert, { aud: o.aud ?? 1, ...(o.ts !== undefined ? { now: o.ts } : {}) }) };
    },
    close() {
      for (const n of nodes.values()) {
        n.cluster.sweeper.stop();
        n.cluster.signing.stop();
        n.cluster.mldsa.stop();
        n.cluster.ecdsa.stop();
        n.cluster.ecdsaSetup.stop();
        n.cluster.dkg.stop();
        n.store.close();
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}
