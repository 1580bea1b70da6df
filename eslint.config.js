// typescript-eslint's recommended rules (issue 13); `npm run lint`, part of `npm run check`.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.build-*/', '.kchain/'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      // Unused names are already errors in tsconfig (noUnusedLocals/Parameters); `_x` marks intent.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
    },
  },
  {
    // Tests read loosely typed JSON-RPC answers; `any` there is the honest type.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
