// Generates TypeScript types (typed document nodes) from the server's
// schema.graphql and the operations the client tests send.
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: '../../schema.graphql',
  documents: ['src/operations.graphql'],
  generates: {
    'src/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        scalars: { DateTime: 'string', Upload: 'Blob' },
        enumsAsTypes: true,
        useTypeImports: true,
      },
    },
  },
  emitLegacyCommonJSImports: false,
  errorsOnly: true,
};

export default config;
