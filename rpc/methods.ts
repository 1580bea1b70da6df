/**
 * The contract between the transport and the services behind it: a method table whose entries say
 * who may call them (RBAC, DESIGN §2) and how. `node/` builds the table; `rpc/` only dispatches.
 */
import type { FieldDecl, Params } from './params.js';

export type Role = 'validator' | 'client' | 'admin';

/** Who is calling, as established by the transport (certificate SAN or loopback config). */
export interface Caller {
  role: Role;
  name: string;
  validatorId?: number;
  transport: 'mtls' | 'plaintext';
  remoteAddress: string;
  /** Short random hex, also put in `error.data` of internal errors so the log line can be found. */
  requestId: string;
  /**
   * The call as received: its method, its params without the `auth` member, and that member (a
   * client's request signature, cluster/evidence.ts) when present. Node forwards it as evidence.
   */
  request?: { method: string; params: Record<string, unknown>; auth?: unknown };
}

export interface MethodSpec<R = unknown> {
  /** Roles allowed to call; any other role gets ERR_FORBIDDEN before params are looked at. */
  roles: readonly Role[];
  handler: (params: Params, caller: Caller) => Promise<R> | R;
  /**
   * Declared fields (with aliases). When present, unknown fields are rejected with
   * ERR_INVALID_PARAMS before the handler runs; when absent, the handler gets an "open" Params.
   */
  params?: readonly FieldDecl[];
}

export type MethodTable = Readonly<Record<string, MethodSpec>>;
