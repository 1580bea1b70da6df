/**
 * Issue 14 "Done when", first item: every `lux key kchain` command's exact request bytes succeed
 * against a real 5-validator, 3-of-5 cluster, and every response decodes under Go's encoding/json
 * rules (test/helpers/go-json.ts) into the Go types the Lux CLI declares.
 *
 * Source of truth: luxfi/cli at c77531d8 — pkg/key/kchain_rpc.go (the client: one POST per call to
 * <endpoint>/ext/kchain/rpc, body = json.Marshal of {jsonrpc,id:1,method,params?}), cmd/keycmd/kchain.go
 * (the commands and their flag defaults) and pkg/key/backend_kchain.go (KChainBackend's share calls).
 * Requests go over plain HTTP from loopback, as the CLI sends them (no TLS, no client certificate).
 * Each command is: the exact request(s), what the CLI's Go code then does with the result (slices,
 * prints), and the property WIRE.md promises.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, b64, type TestCluster } from '../helpers/cluster.js';
import { goMarshalString as q, luxCli, luxClientDecode, type GoType, type LuxCallOutcome } from '../helpers/go-json.js';
import { ERR, ids } from './cluster-util.js';
import { flipBit, verifyIndependently } from './threshold-util.js';
import type { RpcClient } from '../../node/cli/rpc-client.js';

const N = 5;
let c: TestCluster;
let cli: RpcClient;

before(async () => {
  c = await startCluster({ nodes: N, threshold: 3 });
  cli = c.client(1, 'plain'); // path /ext/kchain/rpc: the one kchain_rpc.go:82 appends
});
after(async () => {
  await c?.stop();
});

/**
 * The headers Go's net/http sends for KChainRPCClient.call (kchain_rpc.go:82-92): Content-Type set
 * by the client, User-Agent and Accept-Encoding added by the default transport (Host and
 * Content-Length are set by node). The CLI never sends Authorization: SetAPIKey (kchain_rpc.go:34)
 * has no caller. If the validator starts requiring a bearer token on plain HTTP, add it HERE:
 *   authorization: `Bearer ${token}`,
 */
const LUX_CLI_HEADERS: Record<string, string> = {
  'content-type': 'application/json',
  'user-agent': 'Go-http-client/1.1',
  'accept-encoding': 'gzip',
};

/** The one place a request is sent: these exact body bytes with the CLI's headers. Returns the body text. */
async function post(body: string, via: RpcClient = cli): Promise<string> {
  return (await via.raw(body, LUX_CLI_HEADERS)).text;
}

/**
 * One KChainRPCClient.call: json.Marshal(RPCRequest) omits `params` when nil (kchain_rpc.go:43), so
 * `params` here is the exact JSON text the CLI marshals (field order = Go struct order, omitempty
 * fields dropped), or undefined. Checks the envelope promises of WIRE.md on the raw body, then
 * decodes it exactly as call() does (kchain_rpc.go:103-116).
 */
async function call<T = any>(method: string, params: string | undefined, result: GoType, via?: RpcClient): Promise<LuxCallOutcome<T>> {
  const body = `{"jsonrpc":"2.0","id":1,"method":${q(method)}${params === undefined ? '' : `,"params":${params}`}}`;
  const text = await post(body, via);
  let raw: any;
  try {
    raw = JSON.parse(text);
  } catch {
    assert.fail(`${method}: the body is not JSON: ${text.slice(0, 200)}`);
  }
  assert.ok(raw !== null && typeof raw === 'object' && !Array.isArray(raw), `${method}: one JSON-RPC response object`);
  assert.equal(raw.id, 1, `${method}: the id is echoed as the number 1, got ${JSON.stringify(raw.id)}`);
  if (raw.error !== undefined && raw.error !== null) {
    assert.ok(raw.error.data === undefined || typeof raw.error.data === 'string', `${method}: error.data must be a string or absent, got ${JSON.stringify(raw.error.data)}`);
  }
  return luxClientDecode<T>(text, result);
}

/** The call succeeded for the Go client: no RPC error, and the result decoded into its Go type. */
function ok<T>(r: LuxCallOutcome<T>, what: string): T {
  assert.equal(r.err, null, `${what}: the Lux CLI fails with: ${r.err}`);
  return r.result;
}

/** `getKeyByName {"name":n}`: the first request of show/encrypt/decrypt/sign/verify/distribute/gather/reshare/delete. */
async function keyByName(name: string): Promise<any> {
  const k = ok(await call('kchain.getKeyByName', `{"name":${q(name)}}`, luxCli.KeyMetadata), `getKeyByName ${name}`);
  assert.equal(k.name, name);
  assert.ok(k.id.length > 0, 'the key has an id');
  return k;
}

/** The CLI slices GroupPublicKey[:32] when it is non-empty (kchain.go:199, :340): shorter would panic. */
function assertSliceable(groupPublicKey: string, what: string): void {
  assert.ok(groupPublicKey === '' || Buffer.byteLength(groupPublicKey) >= 32, `${what}: groupPublicKey "${groupPublicKey}" would panic the CLI's [:32]`);
}

const ZERO_TIME = '0001-01-01T00:00:00Z';
const port = (i: number) => c.port(i);

test('behavior: status — kchain.health with no params key decodes into HealthResult and lists every peer as up', async () => {
  const h = ok(await call('kchain.health', undefined, luxCli.HealthResult), 'status');
  assert.equal(h.healthy, true);
  assert.ok(h.version.length > 0, 'a version');
  assert.ok(h.validators !== null, 'validators is a map');
  for (const i of ids(N).slice(1)) assert.equal(h.validators[`127.0.0.1:${port(i)}`], true, `peer ${i} is shown as up`);
  assert.ok(h.latency !== null, 'latency is a map');
});

test('behavior: algorithms — kchain.listAlgorithms with no params key decodes into ListAlgorithmsResult', async () => {
  const r = ok(await call('kchain.listAlgorithms', undefined, luxCli.ListAlgorithmsResult), 'algorithms');
  const names = r.algorithms.map((a: { name: string }) => a.name);
  for (const n of ['ml-kem-768', 'ml-dsa-65', 'bls-threshold']) assert.ok(names.includes(n), `lists ${n}`);
  // The CLI groups by type: anything else is silently not shown (kchain.go:606-615).
  for (const a of r.algorithms) assert.ok(['signing', 'encryption', 'key-exchange'].includes(a.type), `${a.name}: type "${a.type}" is one the CLI shows`);
});

test('behavior: create — the CLI default request makes a 3-of-5 ml-kem-768 key (CreateKeyResult)', async () => {
  // lux key kchain create lux-kem   (defaults -a ml-kem-768 -t 3 -n 5, kchain.go:794-796)
  const r = ok(
    await call('kchain.createKey', '{"name":"lux-kem","algorithm":"ml-kem-768","threshold":3,"totalShares":5}', luxCli.CreateKeyResult),
    'create',
  );
  assert.equal(r.key.name, 'lux-kem');
  assert.equal(r.key.algorithm, 'ml-kem-768');
  assert.equal(r.key.distributed, true);
  assert.equal(r.key.threshold, 3);
  assert.equal(r.key.totalShares, 5);
  assert.equal(r.key.status, 'active');
  assert.notEqual(r.key.createdAt, ZERO_TIME, 'createdAt decoded into a time.Time');
  assert.ok(r.publicKey.length > 0, 'publicKey');
  assert.equal(r.shareIds?.length, 5, 'one share id per validator');
});

test('behavior: create -a bls-threshold — a 3-of-5 BLS key for the CLI\'s sign/verify default algorithm', async () => {
  const r = ok(
    await call('kchain.createKey', '{"name":"lux-bls","algorithm":"bls-threshold","threshold":3,"totalShares":5}', luxCli.CreateKeyResult),
    'create bls-threshold',
  );
  assert.equal(r.key.distributed, true);
  assert.equal(Buffer.from(r.key.publicKey, 'base64').length, 48, 'a 48-byte compressed G1 public key');
});

test('behavior: list — {"limit":100} and {"limit":100,"algorithm":…} decode into ListKeysResult', async () => {
  const all = ok(await call('kchain.listKeys', '{"limit":100}', luxCli.ListKeysResult), 'list');
  const names = all.keys.map((k: { name: string }) => k.name);
  assert.ok(names.includes('lux-kem') && names.includes('lux-bls'), `both keys are listed: ${names}`);
  assert.ok(all.total >= 2);
  // lux key kchain list -a ml-kem-768: ListKeysParams field order is offset, limit, algorithm (kchain_rpc.go:140)
  const kem = ok(await call('kchain.listKeys', '{"limit":100,"algorithm":"ml-kem-768"}', luxCli.ListKeysResult), 'list -a');
  assert.ok(kem.keys.length >= 1);
  for (const k of kem.keys) assert.equal(k.algorithm, 'ml-kem-768', 'the algorithm filter holds');
});

test('behavior: show — getKeyByName, then getPublicKey {"keyId":id,"format":"pem"}', async () => {
  const k = await keyByName('lux-kem');
  assert.equal(k.algorithm, 'ml-kem-768');
  assert.equal(k.threshold, 3);
  assert.notEqual(k.createdAt, ZERO_TIME);
  const pk = ok(await call('kchain.getPublicKey', `{"keyId":${q(k.id)},"format":"pem"}`, luxCli.GetPublicKeyResult), 'show: getPublicKey');
  assert.equal(pk.format, 'pem');
  assert.match(pk.publicKey, /^-----BEGIN PUBLIC KEY-----\n/);
});

let ciphertext = '';
const PLAINTEXT = 'hello from the Lux CLI';

test('behavior: encrypt — getKeyByName, then {"keyId":id,"plaintext":"<b64>"} (EncryptResult)', async () => {
  const k = await keyByName('lux-kem');
  const r = ok(await call('kchain.encrypt', `{"keyId":${q(k.id)},"plaintext":${q(b64(PLAINTEXT))}}`, luxCli.EncryptResult), 'encrypt');
  assert.ok(r.ciphertext.length > 0);
  ciphertext = r.ciphertext;
});

test('behavior: decrypt — getKeyByName, then {"keyId":id,"ciphertext":"<as typed>"} (DecryptResult)', async () => {
  const k = await keyByName('lux-kem');
  const r = ok(await call('kchain.decrypt', `{"keyId":${q(k.id)},"ciphertext":${q(ciphertext)}}`, luxCli.DecryptResult), 'decrypt');
  assert.equal(Buffer.from(r.plaintext, 'base64').toString('utf8'), PLAINTEXT, 'the CLI base64-decodes plaintext (kchain.go:504)');
});

let signature = '';
const SIGNED = 'sign me, lux';

test('behavior: sign — getKeyByName, then thresholdSign {"keyId","message","algorithm":"bls-threshold"} (ThresholdSignResult)', async () => {
  const k = await keyByName('lux-bls');
  const r = ok(
    await call('kchain.thresholdSign', `{"keyId":${q(k.id)},"message":${q(b64(SIGNED))},"algorithm":"bls-threshold"}`, luxCli.ThresholdSignResult),
    'sign',
  );
  assertSliceable(r.groupPublicKey, 'sign');
  assert.equal(r.participantIds?.length, 3, `t = 3 participants: ${JSON.stringify(r.participantIds)}`);
  const sig = Buffer.from(r.signature, 'base64');
  assert.equal(sig.length, 96, 'a 96-byte compressed G2 signature');
  assert.ok(verifyIndependently('bls-threshold', Buffer.from(k.publicKey, 'base64'), Buffer.from(SIGNED), sig), 'the signature verifies with noble and blst');
  signature = r.signature;
});

test('behavior: verify — getKeyByName, then {"keyId","message","signature":"<as typed>","algorithm":"bls-threshold"} (VerifyResult)', async () => {
  const k = await keyByName('lux-bls');
  const good = ok(
    await call('kchain.verify', `{"keyId":${q(k.id)},"message":${q(b64(SIGNED))},"signature":${q(signature)},"algorithm":"bls-threshold"}`, luxCli.VerifyResult),
    'verify',
  );
  assert.equal(good.valid, true, `valid: ${good.message}`);
  const tampered = b64(flipBit(Buffer.from(signature, 'base64')));
  const bad = ok(
    await call('kchain.verify', `{"keyId":${q(k.id)},"message":${q(b64(SIGNED))},"signature":${q(tampered)},"algorithm":"bls-threshold"}`, luxCli.VerifyResult),
    'verify (tampered)',
  );
  assert.equal(bad.valid, false, 'a bad signature is valid:false, not an error');
  assert.ok(bad.message.length > 0, 'with the reason in message (the CLI prints it, kchain.go:395)');
});

test('behavior: distribute — a key made with -t 0 -n 0 (no threshold sent), then {"keyId","threshold":3,"totalParts":5,"validators":null}', async () => {
  // lux key kchain create lux-local -a bls12-381 -t 0 -n 0: omitempty drops threshold/totalShares
  ok(await call('kchain.createKey', '{"name":"lux-local","algorithm":"bls12-381"}', luxCli.CreateKeyResult), 'create -t 0 -n 0');
  const k = await keyByName('lux-local');
  const r = ok(
    await call('kchain.distributeKey', `{"keyId":${q(k.id)},"threshold":3,"totalParts":5,"validators":null}`, luxCli.DistributeKeyResult),
    'distribute',
  );
  assert.equal(r.success, true);
  assert.equal(r.shareIds?.length, 5);
  assertSliceable(r.groupPublicKey, 'distribute');
  const now = await keyByName('lux-local');
  assert.equal(now.distributed, true);
  assert.equal(now.threshold, 3);
  assert.equal(now.totalShares, 5);
});

test('behavior: distribute --validators 127.0.0.1:<p1>,…,127.0.0.1:<p5> — endpoints, as the CLI\'s flag help says (issue 14 item 7)', async () => {
  ok(await call('kchain.createKey', '{"name":"lux-local2","algorithm":"ml-kem-768"}', luxCli.CreateKeyResult), 'create -t 0 -n 0');
  const k = await keyByName('lux-local2');
  // pflag StringSlice: the flag value is split as one CSV record, in order, untrimmed
  const validators = `[${ids(N).map((i) => q(`127.0.0.1:${port(i)}`)).join(',')}]`;
  const r = ok(
    await call('kchain.distributeKey', `{"keyId":${q(k.id)},"threshold":3,"totalParts":5,"validators":${validators}}`, luxCli.DistributeKeyResult),
    'distribute --validators host:port',
  );
  assert.equal(r.success, true);
  assert.equal(r.shareIds?.length, 5);
});

test('behavior: gather — getKeyByName, then {"keyId":id} (GatherSharesResult)', async () => {
  const k = await keyByName('lux-kem');
  const r = ok(await call('kchain.gatherShares', `{"keyId":${q(k.id)}}`, luxCli.GatherSharesResult), 'gather');
  assert.equal(r.available, 5);
  assert.equal(r.required, 3);
  assert.equal(r.ready, true);
  assert.equal(r.shareIds?.length, 5);
});

test('behavior: reshare — getKeyByName, then {"keyId","newThreshold":0,"newTotalParts":0,"newValidators":null} (ReshareKeyResult)', async () => {
  const k = await keyByName('lux-kem');
  const r = ok(
    await call('kchain.reshareKey', `{"keyId":${q(k.id)},"newThreshold":0,"newTotalParts":0,"newValidators":null}`, luxCli.ReshareKeyResult),
    'reshare',
  );
  assert.equal(r.success, true);
  assert.equal(r.newShareIds?.length, 5);
  // the key is the same key: what was encrypted before still decrypts
  const d = ok(await call('kchain.decrypt', `{"keyId":${q(k.id)},"ciphertext":${q(ciphertext)}}`, luxCli.DecryptResult), 'decrypt after reshare');
  assert.equal(Buffer.from(d.plaintext, 'base64').toString('utf8'), PLAINTEXT);
});

test('behavior: a failed lookup (show/… of an unknown name) is an RPC error the Go client decodes', async () => {
  const r = await call('kchain.getKeyByName', '{"name":"lux-no-such-key"}', luxCli.KeyMetadata);
  assert.ok(r.rpcError, `an error, not a result: ${r.err}`);
  assert.equal(r.rpcError.code, ERR.KEY_NOT_FOUND);
  assert.match(r.rpcError.message, /lux-no-such-key/, 'the message names the key');
});

test('behavior: KChainBackend share calls — storeShare / retrieveShare / deleteShare by key name and validatorId (backend_kchain.go:766-814)', async () => {
  const validatorId = 'validator-1.kchain.lux.network:9630'; // getDefaultValidators, backend_kchain.go:858
  // shareData is json.Marshal(EncryptedShare): []byte fields as base64, Go field names
  const shareData = JSON.stringify({ Index: 1, Ciphertext: b64('kem-ct'), EncryptedKey: b64('gcm-ct'), Nonce: b64('nonce-12byte'), ValidatorID: validatorId });
  const st = ok(
    await call('kchain.storeShare', `{"keyId":"lux-backend","shareIndex":1,"shareData":${q(shareData)},"validatorId":${q(validatorId)}}`, luxCli.StoreShareResult),
    'storeShare',
  );
  assert.equal(st.stored, true);
  assert.ok(st.shareId.length > 0);
  const rs = ok(await call('kchain.retrieveShare', `{"keyId":"lux-backend","validatorId":${q(validatorId)}}`, luxCli.RetrieveShareResult), 'retrieveShare');
  assert.equal(rs.shareData, shareData, 'shareData comes back byte for byte (the backend json.Unmarshals it)');
  assert.equal(rs.shareIndex, 1);
  assert.equal(rs.validatorId, validatorId);
  const ds = ok(await call('kchain.deleteShare', `{"keyId":"lux-backend","validatorId":${q(validatorId)}}`, luxCli.DeleteShareResult), 'deleteShare');
  assert.equal(ds.deleted, true, `deleted: ${ds.message}`);
});

test('behavior: requestSignatureShare (KChainBackend.Sign) — a decodable result or an error that names kchain.thresholdSign (issue 14 item 11)', async () => {
  // backend_kchain.go:842: keyId is the key NAME, message the raw bytes as a Go string, algorithm the backend's KeyType ("bls")
  const r = await call(
    'kchain.requestSignatureShare',
    `{"keyId":"lux-bls","message":${q(SIGNED)},"validatorId":"validator-1.kchain.lux.network:9630","algorithm":"bls"}`,
    luxCli.RequestSignatureShareResult,
  );
  if (r.rpcError) assert.match(r.rpcError.message, /thresholdSign/, `the error points to kchain.thresholdSign: ${r.rpcError.message}`);
  else assert.equal(r.err, null, `the result decodes: ${r.err}`);
});

/**
 * `lux key kchain delete <name> [--force]` for each name: every delete is sent (so one failure does
 * not leave keys behind), the key must be gone afterwards, and then every Go decode failure is reported.
 */
async function deleteAll(names: string[], force: boolean): Promise<void> {
  const failures: string[] = [];
  for (const name of names) {
    const k = await keyByName(name);
    const r = await call('kchain.deleteKey', `{"id":${q(k.id)}${force ? ',"force":true' : ''}}`, luxCli.DeleteKeyResult);
    if (r.err !== null) failures.push(`delete${force ? ' --force' : ''} ${name}: the Lux CLI fails with: ${r.err}`);
    else assert.equal(r.result.success, true, `delete ${name}: success`);
    const gone = await call('kchain.getKeyByName', `{"name":${q(name)}}`, luxCli.KeyMetadata);
    assert.equal(gone.rpcError?.code, ERR.KEY_NOT_FOUND, `${name} is gone after delete`);
  }
  assert.deepEqual(failures, [], failures.join('\n'));
}

test('behavior: delete — getKeyByName, then deleteKey {"id":id} (DeleteKeyResult: deletedShares is []string)', async () => {
  await deleteAll(['lux-kem', 'lux-local'], false);
});

test('behavior: delete --force — getKeyByName, then deleteKey {"id":id,"force":true}', async () => {
  await deleteAll(['lux-bls', 'lux-local2'], true);
});
