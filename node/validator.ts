/**
 * The validator process, wired together: config → TLS material → password → store → services →
 * peer plane → one port serving JSON-RPC, the peer WebSocket, /health and /metrics.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { PeerNetwork, type PeerAddress } from '../cluster/peer-network.js';
import { MemberDiscovery, fetchMembers } from './member-discovery.js';
import { ClusterService } from './cluster-service.js';
import { ThresholdService } from './threshold-service.js';
import { ReshareService } from './reshare-service.js';
import { loadTlsFiles } from '../certs/files.js';
import { identityFromSubjectAltName } from '../certs/identity.js';
import { RpcServer } from '../rpc/server.js';
import { isExposedError } from '../rpc/errors.js';
import type { NodeConfig } from './config.js';
import { obtainPassword } from './password.js';
import { Store } from './store.js';
import { KeyService } from './key-service.js';
import { LocalSecrets } from './local-secrets.js';
import { actorOf, buildMethods, VERSION } from './methods.js';
import { NodeError } from './errors.js';
import { Metrics } from './metrics.js';
import type { Logger } from './logger.js';

export interface ValidatorDeps {
  config: NodeConfig;
  log: Logger;
  /** For tests and tools: supply the password instead of the configured provider. */
  password?: Uint8Array;
}

export class Validator {
  readonly config: NodeConfig;
  readonly log: Logger;
  readonly store: Store;
  readonly keys: KeyService;
  readonly metrics: Metrics;
  private server: RpcServer | null = null;
  private cluster: ClusterService | null = null;
  private threshold: ThresholdService | null = null;
  private reshare: ReshareService | null = null;
  private network: PeerNetwork | null = null;
  private discovery: MemberDiscovery | null = null;
  private readonly identityKey: KeyObject;
  private readonly startedAt = Date.now();
  private closing = false;

  private constructor(deps: ValidatorDeps, store: Store, identityKey: KeyObject) {
    this.config = deps.config;
    this.log = deps.log;
    this.store = store;
    this.identityKey = identityKey;
    this.metrics = new Metrics();
    this.keys = new KeyService({
      store,
      secrets: new LocalSecrets(store, deps.config.id, { withSecret: (k, fn) => this.requireCluster().withSecret(k, fn) }),
      clock: { now: () => Date.now() },
    });
  }

  private requireCluster(): ClusterService {
    if (!this.cluster) throw new NodeError('ERR_NOT_ENOUGH_VALIDATORS', 'this validator has no peers configured');
    return this.cluster;
  }

  /** Where other validators reach this one (the member list names it so). */
  private get advertisedAddress(): string {
    return this.config.advertiseAddress ?? `${this.config.host}:${this.config.port}`;
  }

  /** The configured peers, plus those learned at run time (joined) from the store; the config wins. */
  private initialPeers(): PeerAddress[] {
    const configured = new Set(this.config.peers.map((p) => p.id));
    const learned = this.store.listPeers().filter((p) => !configured.has(p.id) && p.id !== this.config.id);
    return [...this.config.peers.map((p) => ({ id: p.id, address: p.address })), ...learned];
  }

  /** Remembers a validator learned at run time, so a restart knows it without a config change. */
  private rememberPeer(p: PeerAddress): void {
    this.store.putPeer(p.id, p.address, Date.now());
  }

  /** This validator and its peers, for GET /peer/members. */
  private peerMembers(): PeerAddress[] {
    const peers = Object.entries(this.network?.status() ?? {}).map(([id, s]) => ({ id: Number(id), address: s.address }));
    return [{ id: this.config.id, address: this.advertisedAddress }, ...peers];
  }

  /** With `join`: learn the members from a running validator, in the background (the node serves meanwhile). */
  private startDiscovery(tls: { ca: Buffer; cert: Buffer; key: Buffer }): void {
    const network = this.network;
    if (!network || this.config.join.length === 0) return;
    this.discovery = new MemberDiscovery({
      selfId: this.config.id,
      join: this.config.join,
      known: () => Object.entries(network.status()).map(([id, s]) => ({ id: Number(id), address: s.address })),
      add: (p) => {
        network.addPeer(p);
        this.rememberPeer(p);
      },
      fetch: (address) => fetchMembers(address, tls),
      log: this.log.child({ plane: 'join' }),
    });
    this.discovery.start();
  }

  /** The peer plane and the distributed-key service, when the config names peers or a cluster to join. */
  private startCluster(tls: { ca: Buffer; cert: Buffer; key: Buffer }): void {
    const { config, log } = this;
    const peers = this.initialPeers();
    if (peers.length === 0 && config.join.length === 0) return;
    const identify = (san: string | undefined) => {
      const id = identityFromSubjectAltName(san);
      return id?.role === 'validator' && id.validatorId && id.identityPublicKey
        ? { validatorId: id.validatorId, identityPublicKey: id.identityPublicKey }
        : undefined;
    };
    const network = new PeerNetwork({
      selfId: config.id,
      identityKey: this.identityKey,
      peers,
      tls,
      identityOf: () => undefined,
      identifyPeerCertificate: (der) => identify(new X509Certificate(der).subjectAltName),
      exposeError: (e) => (isExposedError(e) ? { code: e.code, message: e.message } : undefined),
      requestTimeoutMs: config.limits.peerTimeoutMs,
      onPeerConnected: (peerId) => {
        this.cluster?.onPeerConnected();
        this.reshare?.onPeerConnected(peerId);
      },
      // Announced only when joining (or set explicitly): a static cluster's addresses stay as configured.
      ...(config.advertiseAddress !== null || config.join.length > 0 ? { announceAddress: this.advertisedAddress } : {}),
      onPeerJoined: (p) => this.rememberPeer(p),
      log: log.child({ plane: 'peer' }),
    });
    this.network = network;
    this.cluster = new ClusterService({
      selfId: config.id,
      selfAddress: `${config.host}:${config.port}`,
      store: this.store,
      network,
      log: log.child({ plane: 'cluster' }),
      defaults: config.cluster,
      timeoutMs: config.limits.peerTimeoutMs,
    });
    this.threshold = new ThresholdService({
      selfId: config.id,
      store: this.store,
      network,
      log: log.child({ plane: 'threshold' }),
      timeoutMs: config.limits.peerTimeoutMs,
      members: () => this.cluster!.members(),
      live: (id) => id === config.id || network.connectedPeers().includes(id),
      defaults: config.cluster,
      faults: { corruptPartials: config.testFaults.corruptPartials },
    });
    this.threshold.registerHandlers();
    this.cluster.setThreshold(this.threshold);
    const caCert = new X509Certificate(tls.ca);
    const selfIdentity = new Uint8Array(Buffer.from(String(createPublicKey(this.identityKey).export({ format: 'jwk' }).x), 'base64url'));
    this.reshare = new ReshareService({
      selfId: config.id,
      store: this.store,
      network,
      log: log.child({ plane: 'reshare' }),
      timeoutMs: config.limits.peerTimeoutMs,
      members: () => this.cluster!.members(),
      live: (id) => id === config.id || network.connectedPeers().includes(id),
      identityKey: this.identityKey,
      identityOf: (id) => (id === config.id ? selfIdentity : network.identityOf(id)),
      certificatePem: tls.cert.toString('utf8'),
      identityFromCertificate: (pem) => validatorIdentityOf(pem, caCert),
      crashAt: config.testFaults.crashAt,
    });
    this.cluster.setResharer(this.reshare);
    this.keys.setDistributor(this.cluster);
    this.metrics.gauge('kchain_peer_frames_total', () =>
      Object.fromEntries(Object.entries(network.counters()).map(([k, v]) => [`kind="${k}"`, v])),
    );
    this.metrics.gauge('kchain_peer_connected', () =>
      Object.fromEntries(Object.entries(network.status()).map(([id, s]) => [`peer="${id}"`, s.connected ? 1 : 0])),
    );
    this.cluster.start();
    this.threshold.start();
    this.reshare.start();
  }

  static async create(deps: ValidatorDeps): Promise<Validator> {
    const { config, log } = deps;
    const tls = loadTlsFiles({ ca: config.tls.ca, cert: config.tls.cert, key: config.tls.key });
    const identityKey = createPrivateKey(readFileSync(config.tls.identityKey));
    const dbPath = join(config.dataDir, 'kchain.db');
    const password =
      deps.password ??
      (await obtainPassword(config.password, {
        isNew: !Store.exists(dbPath),
        warn: (msg) => log.warn(msg),
      }));
    let store: Store;
    try {
      store = await Store.open({ path: dbPath, password, kdf: config.kdf });
    } finally {
      if (!deps.password) password.fill(0);
    }
    const v = new Validator(deps, store, identityKey);
    try {
      await v.listen(tls);
    } catch (e) {
      store.close();
      throw e;
    }
    return v;
  }

  private async listen(tls: { ca: Buffer; cert: Buffer; key: Buffer }): Promise<void> {
    const { config, log } = this;
    const selfAddress = `${config.host}:${config.port}`;
    this.startCluster(tls);
    const methods = this.metrics.timed(buildMethods({
      keys: this.keys,
      store: this.store,
      cluster: () => this.cluster,
      selfAddress,
      startedAt: this.startedAt,
      now: () => Date.now(),
    }));
    this.server = await RpcServer.create({
      host: config.host,
      port: config.port,
      tls,
      allowPlaintextLoopback: config.plaintextLoopback,
      plaintextRole: config.plaintextRole,
      bearerToken: config.bearerToken,
      bodyLimit: config.limits.bodyBytes,
      requestTimeoutMs: config.limits.requestTimeoutMs,
      maxBatch: config.limits.maxBatch,
      methods,
      identify: (cert: PeerCertificate) => {
        const id = identityFromSubjectAltName(cert.subjectaltname);
        return id && { role: id.role, name: id.name, validatorId: id.validatorId };
      },
      onPeerUpgrade: (req, socket, head, caller) => {
        const id = identityFromSubjectAltName((socket as TLSSocket).getPeerCertificate().subjectaltname);
        if (!this.cluster || !id?.identityPublicKey || !id.validatorId || id.validatorId !== caller.validatorId) {
          socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
          return;
        }
        this.cluster.acceptUpgrade(req, socket, head, { validatorId: id.validatorId, identityPublicKey: id.identityPublicKey });
      },
      ...(this.network ? { peerMembers: () => this.peerMembers() } : {}),
      health: () => ({ healthy: !this.closing, version: VERSION, uptime: Math.floor((Date.now() - this.startedAt) / 1000) }),
      metrics: () => this.metrics.render(),
      onError: (e, ctx) => {
        this.metrics.countError(ctx.method ?? 'none', ctx.expected);
        const who = ctx.caller ? `${ctx.caller.role}:${ctx.caller.name}` : undefined;
        const code = (e as { code?: string }).code;
        if (ctx.caller && ctx.method && code === 'ERR_FORBIDDEN') {
          // A refused attempt on a key method is security-relevant: it goes to the audit chain too.
          this.store.appendAudit({ actor: actorOf(ctx.caller), action: ctx.method.replace(/^kchain\./, ''), keyId: null, outcome: 'error:ERR_FORBIDDEN' }, new Date());
        }
        if (ctx.expected || isExposedError(e)) {
          log.warn({ method: ctx.method, caller: who, code: (e as { code?: string }).code, msg: (e as Error).message }, 'request refused');
        } else {
          log.error({ method: ctx.method, caller: who, requestId: ctx.caller?.requestId, err: e }, 'request failed');
        }
      },
      log,
    });
    log.info(
      {
        address: selfAddress,
        plaintextLoopback: config.plaintextLoopback,
        peers: this.network ? Object.keys(this.network.status()).length : 0,
        join: config.join.length ? config.join : undefined,
        dataDir: config.dataDir,
      },
      `validator ${config.id} listening on ${selfAddress} (mTLS${config.plaintextLoopback ? ' + plain HTTP from loopback' : ''})`,
    );
    this.startDiscovery(tls);
  }

  get port(): number {
    return this.server!.address().port;
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.discovery?.stop();
    await this.server?.close();
    this.reshare?.stop();
    this.threshold?.stop();
    await this.cluster?.stop();
    this.store.close();
    this.log.info('validator stopped');
  }
}

/**
 * The validator id and identity key of a validator certificate (PEM) issued by the cluster CA;
 * undefined for anything else. Validity dates are not checked: a certificate inside a reshare's
 * commit certificate vouches for a signature made when the reshare happened.
 */
function validatorIdentityOf(pem: string, ca: X509Certificate): { validatorId: number; identityPublicKey: Uint8Array } | undefined {
  try {
    const x = new X509Certificate(pem);
    if (!x.checkIssued(ca) || !x.verify(ca.publicKey)) return undefined;
    const id = identityFromSubjectAltName(x.subjectAltName);
    return id?.role === 'validator' && id.validatorId && id.identityPublicKey ? { validatorId: id.validatorId, identityPublicKey: id.identityPublicKey } : undefined;
  } catch {
    return undefined;
  }
}
