/**
 * The `kchain.*` method table (WIRE.md "Methods"): for each method the roles allowed, the declared
 * parameters, and a handler that parses them, calls a service and shapes the result exactly as the
 * Go client decodes it. Calls that change or use a key are written to the audit chain.
 */
import type { MethodTable } from '../../rpc/methods.js';
import { clusterMethods } from './cluster.js';
import type { MethodDeps } from './common.js';
import { keyMethods } from './keys.js';
import { operationMethods } from './operations.js';
import { shareMethods } from './shares.js';
import { statusMethods } from './status.js';

export function buildMethods(d: MethodDeps): MethodTable {
  return { ...statusMethods(d), ...keyMethods(d), ...operationMethods(d), ...clusterMethods(d), ...shareMethods(d) };
}
