/**
 * The validator process, wired together once, in order, everything passed to constructors:
 * config → TLS material → password → store → membership → evidence checks (authority) → peer plane
 * and ceremonies → key service and method table → one port serving JSON-RPC, the peer WebSocket,
 * /health and /metrics. The peer plane starts only after the port is bound, so a validator that
 * cannot listen never dials anyone.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { PeerNetwork } from '../cluster/peer-network.js';
import type { PeerIdentity } from '../cluster/peer-links.js';
import { loadTlsFiles } from '../certs/files.js';
import { identityFromSubjectAltName } from '../certs/identity.js';
import { RpcServer } from '../rpc/server.js';
import { isExposedError } from '../rpc/errors.js';
import { Authority } from './authority.js';
import { Cluster } from './cluster.js';
import { Membership } from './ceremonies/membership.js';
import { checkCreationEvidence } from './ceremonies/requests.js';
import type { NodeConfig } from './config/config.js';
import { CryptoPool } from './crypto-pool.js';
import { Certifier } from './keys/certified.js';
import { KeyService } from './keys/key-service.js';
import type { Logger } from './logger.js';
import { MemberDiscovery, fetchMembers } from './member-discovery.js';
import { METHOD_ROLES, VERSION, actorOf } from './methods/common.js';
import { buildMethods } from './methods/table.js';
import { Metrics } from './metrics.js';
import { registerGauges } from './methods/gauges.js';
import { obtainPassword } from './password.js';
import { RefusalAudit } from './refusals.js';
import { Store } from './store/store.js';

export interface ValidatorDeps {
  config: NodeConfig;
  log: Logger;
  /** For tests and tools: supply the password instead of the configured provider. */
  password?: Uint8Array;
}

type Tls = { ca: Buffer; cert: Buffer; key: Buffer };

export class Validator {
  readonly keys: KeyService;
  private server: RpcServer | null = null;
  private discovery: MemberDiscovery | null = null;
  private readonly startedAt = Date.now();
  private closing = false;

  private constructor(
    readonly config: NodeConfig,
    readonly log: Logger,
    readonly store: Store,
    private readonly tls: Tls,
    readonly membership: Membership,
    readonly authority: Authority,
    readonly cluster: Cluster | null,
    private readonly network: PeerNetwork | null,
    readonly metrics: Metrics,
    private readonly pool: CryptoPool,
  ) {
    this.keys = new KeyService(store, cluster, Date.now, pool);
  }

  static async create(deps: ValidatorDeps): Promise<Validator> {
    const { config, log } = deps;
    const tls = loadTlsFiles({ ca: config.tls.ca, cert: config.tls.cert, key: config.tls.key });
    const identityKey = createPrivateKey(readFileSync(config.tls.identityKey));
    const dbPath = join(config.dataDir, 'kchain.db');
    const password = deps.password ?? (await obtainPassword(config.password, { isNew: !Store.exists(dbPath), warn: (msg) => log.warn(msg) }));
    let store: Store;
    try {
      store = await Store.open({ path: dbPath, password, kdf: config.kdf });
    } finally {
      if (!deps.password) password.fill(0);
    }
    let v: Validator | null = null;
    try {
      v = Validator.compose(config, log, store, tls, identityKey);
      await v.listen();
      return v;
    } catch (e) {
      v?.metrics.close();
      await v?.pool.close();
      store.close();
      throw e;
    }
  }

  private static compose(config: NodeConfig, log: Logger, store: Store, tls: Tls, identityKey: KeyObject): Validator {
    const caCert = new X509Certificate(tls.ca);
    const selfAddress = config.advertiseAddress ?? `${config.host}:${config.port}`;
    const membership = new Membership({ selfId: config.id, selfAddress, store, log: log.child({ plane: 'members' }), now: Date.now, configPeers: config.peers });
    const authority = new Authority({
      selfId: config.id,
      ca: caCert,
      isRevoked: (serial) => membership.isRevoked(serial),
      rolesOf: (m) => METHOD_ROLES[m],
      acceptUnsigned: !config.requireSignedRequests,
    });
    const metrics = new Metrics(VERSION);
    const parts = membership.peers().length > 0 || config.join.length > 0 ? Validator.composeCluster(config, log, store, tls, identityKey, caCert, membership, authority, metrics) : null;
    // Threads start on the first offloaded operation, so composing starts none.
    const pool = CryptoPool.create({ threads: config.workers.threads, idleTimeoutMs: config.workers.idleTimeoutMs, log: log.child({ plane: 'crypto' }) });
    return new Validator(config, log, store, tls, membership, authority, parts?.cluster ?? null, parts?.network ?? null, metrics, pool);
  }

  private static composeCluster(config: NodeConfig, log: Logger, store: Store, tls: Tls, identityKey: KeyObject, caCert: X509Certificate, membership: Membership, authority: Authority, metrics: Metrics): { cluster: Cluster; network: PeerNetwork } {
    const selfIdentity = new Uint8Array(Buffer.from(String(createPublicKey(identityKey).export({ format: 'jwk' }).x), 'base64url'));
    let cluster: Cluster | null = null;
    const refusals = new RefusalAudit(store, log.child({ plane: 'peer' }));
    const network = new PeerNetwork({
      selfId: config.id,
      identityKey,
      peers: membership.peers(),
      tls,
      identityOf: (id) => membership.identityOf(id),
      admit: (who, expected) => membership.admit(who, expected),
      identifyPeerCertificate: (der) => validatorIdentityOf(der, caCert, false),
      exposeError: (e) => (isExposedError(e) ? { code: e.code, message: e.message } : undefined),
      authorize: (ev, ctx) => (ctx.lasting ? authority.check(ev, ctx.from, { fresh: false }) : authority.authorize(ev, ctx)),
      requestTimeoutMs: config.limits.peerTimeoutMs,
      onPeerConnected: (peer) => cluster?.onPeerConnected(peer),
      // Refusals go to the audit chain (issue 12): who asked, what, why.
      onRefused: (r) => refusals.record(r),
      log: log.child({ plane: 'peer' }),
    });
    const certifier = new Certifier({
      selfId: config.id,
      store,
      identityKey,
      certificatePem: tls.cert.toString('utf8'),
      pinned: (id) => (id === config.id ? selfIdentity : membership.identityOf(id)),
      fromCertificate: (pem) => validatorIdentityOf(pem, caCert, true),
      isRevoked: (serial) => membership.isRevoked(serial),
      checkCreation: (rec, ev, from) =>
        checkCreationEvidence((e, by) => authority.check(e, by, { fresh: false }), rec, ev, from, { members: membership.addresses(), defaults: config.cluster }),
      now: Date.now,
    });
    cluster = new Cluster(
      {
        selfId: config.id,
        port: network,
        store,
        log: log.child({ plane: 'cluster' }),
        authority,
        certifier,
        timeoutMs: config.limits.peerTimeoutMs,
        now: Date.now,
        memberAddresses: () => membership.addresses(),
        defaults: config.cluster,
        faults: config.testFaults,
      },
      network,
      membership,
      (kind, ok, ms) => metrics.ceremony(kind, ok, ms),
    );
    membership.attach(network, { add: (p) => network.addPeer(p), remove: (id) => network.removePeer(id), closeRevoked: (r) => network.closeRevoked(r) }, authority);
    return { cluster, network };
  }

  private async listen(): Promise<void> {
    const { config, log } = this;
    const selfAddress = `${config.host}:${config.port}`;
    const methodDeps = { keys: this.keys, store: this.store, authority: this.authority, cluster: this.cluster, selfId: config.id, selfAddress, startedAt: this.startedAt, now: () => Date.now() };
    const methods = this.metrics.timed(buildMethods(methodDeps));
    const network = this.network;
    this.server = await RpcServer.create({
      host: config.host,
      port: config.port,
      tls: this.tls,
      allowPlaintextLoopback: config.plaintextLoopback,
      plaintextRole: config.plaintextRole,
      bearerToken: config.bearerToken,
      bodyLimit: config.limits.bodyBytes,
      requestTimeoutMs: config.limits.requestTimeoutMs,
      maxBatch: config.limits.maxBatch,
      maxConnections: config.limits.maxConnections,
      maxConnectionsPerAddress: config.limits.maxConnectionsPerAddress,
      methods,
      isRevoked: (serial) => this.membership.isRevoked(serial),
      identify: (cert: PeerCertificate) => {
        const id = identityFromSubjectAltName(cert.subjectaltname);
        return id && { role: id.role, name: id.name, validatorId: id.validatorId };
      },
      onPeerUpgrade: (req, socket, head, caller) => {
        const cert = (socket as TLSSocket).getPeerCertificate();
        const id = identityFromSubjectAltName(cert.subjectaltname);
        if (!network || !id?.identityPublicKey || !id.validatorId || id.validatorId !== caller.validatorId) {
          socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
          return;
        }
        network.acceptUpgrade(req, socket, head, { validatorId: id.validatorId, identityPublicKey: id.identityPublicKey, serial: String(cert.serialNumber ?? '').toUpperCase() });
      },
      ...(network ? { peerMembers: () => ({ members: this.membership.addresses(), document: this.membership.document() }) } : {}),
      health: () => ({ healthy: !this.closing, version: VERSION, uptime: Math.floor((Date.now() - this.startedAt) / 1000) }),
      metrics: () => this.metrics.render(),
      onError: (e, ctx) => this.onError(e, ctx),
      log,
    });
    registerGauges(this.metrics, methodDeps);
    if (this.cluster) this.cluster.start();
    log.info(
      { address: selfAddress, plaintextLoopback: config.plaintextLoopback, peers: this.membership.peers().length, join: config.join.length ? config.join : undefined, dataDir: config.dataDir },
      `validator ${config.id} listening on ${selfAddress} (mTLS${config.plaintextLoopback ? ' + plain HTTP from loopback' : ''}; crypto ${this.pool.pooled ? `on up to ${this.pool.threads} worker threads` : 'inline'})`,
    );
    this.startDiscovery();
  }

  private onError(e: unknown, ctx: { method?: string; caller?: import('../rpc/methods.js').Caller; expected: boolean }): void {
    this.metrics.countError(ctx.method ?? 'none', ctx.expected);
    const who = ctx.caller ? `${ctx.caller.role}:${ctx.caller.name}` : undefined;
    const code = (e as { code?: string }).code;
    if (ctx.caller && ctx.method && code === 'ERR_FORBIDDEN') {
      // A refused attempt on a key method is security-relevant: it goes to the audit chain too.
      this.store.record({ actor: actorOf(ctx.caller), action: ctx.method.replace(/^kchain\./, ''), keyId: null, outcome: 'error:ERR_FORBIDDEN' }, Date.now());
    }
    if (ctx.expected || isExposedError(e)) this.log.warn({ method: ctx.method, caller: who, code, reason: (e as Error).message }, 'request refused');
    else this.log.error({ method: ctx.method, caller: who, requestId: ctx.caller?.requestId, err: e }, ctx.method ? 'request failed' : 'server error');
  }

  /** With `join`: learn the signed member list from a running validator, in the background. */
  private startDiscovery(): void {
    const cluster = this.cluster;
    if (!cluster || this.config.join.length === 0) return;
    this.discovery = new MemberDiscovery({
      selfId: this.config.id,
      join: this.config.join,
      known: () => this.membership.peers(),
      fetch: (address) => fetchMembers(address, this.tls),
      apply: async (list) => {
        const doc = list.document as { epoch?: unknown; evidence?: unknown } | null;
        if (!doc || typeof doc.epoch !== 'number' || !doc.evidence) throw new Error(`validator ${list.servedBy} has no admin-signed member list yet (an admin adds this validator with kchain validators add)`);
        if (doc.epoch <= this.membership.epoch) return 'unchanged';
        const auth = this.authority.check(doc.evidence, list.servedBy, { fresh: false });
        const members = (auth.params.members as { id?: unknown }[] | undefined) ?? [];
        if (!members.some((m) => m.id === this.config.id)) throw new Error(`the member list (epoch ${doc.epoch}) does not name validator ${this.config.id}; an admin adds it with kchain validators add`);
        await this.membership.update(auth, list.servedBy);
        return 'applied';
      },
      log: this.log.child({ plane: 'join' }),
    });
    this.discovery.start();
  }

  get port(): number {
    return this.server!.address().port;
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.discovery?.stop();
    await this.server?.close();
    await this.cluster?.stop();
    await this.pool.close();
    this.store.close();
    this.metrics.close();
    this.log.info('validator stopped');
  }
}

/**
 * The validator id and identity key of a validator certificate (PEM or DER) issued by the cluster CA;
 * undefined for anything else. `anyTime`: validity dates are not checked (a certificate inside a key
 * certificate vouches for a signature made when the ceremony happened).
 */
function validatorIdentityOf(cert: string | Buffer, ca: X509Certificate, anyTime: boolean): PeerIdentity | undefined {
  try {
    const x = new X509Certificate(cert);
    if (!x.checkIssued(ca) || !x.verify(ca.publicKey)) return undefined;
    if (!anyTime) {
      const now = Date.now();
      if (now < Date.parse(x.validFrom) || now > Date.parse(x.validTo)) return undefined;
    }
    const id = identityFromSubjectAltName(x.subjectAltName);
    return id?.role === 'validator' && id.validatorId && id.identityPublicKey ? { validatorId: id.validatorId, identityPublicKey: id.identityPublicKey, serial: x.serialNumber.toUpperCase() } : undefined;
  } catch {
    return undefined;
  }
}
