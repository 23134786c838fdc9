import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'dist-bench/', 'node_modules/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "MemberExpression[object.name='process'][property.name='exit']",
          message: 'process.exit belongs to src/cli only.',
        },
      ],
    },
  },
  {
    files: ['src/cli/**', 'src/demo/**', 'test/**', 'bench/**'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    files: ['src/**'],
    ignores: ['src/remote/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [{ name: 'node-ssh', message: 'Only src/remote talks SSH.' }] },
      ],
    },
  },
);
