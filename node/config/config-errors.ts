/**
 * Raised by loadConfig with every problem found, one per line (after a header line), so an operator
 * fixes the whole file at once. `problems` holds the same lines for programmatic use.
 * The code is a key of ERROR_CODES in rpc/errors.ts.
 */
export class ConfigError extends Error {
  readonly code = 'ERR_INVALID_PARAMS' as const;
  readonly problems: readonly string[];
  constructor(header: string, problems: readonly string[]) {
    super([header, ...problems.map((p) => `  - ${p}`)].join('\n'));
    this.name = 'ConfigError';
    this.problems = Object.freeze([...problems]);
  }
}
