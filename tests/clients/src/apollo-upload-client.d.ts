// apollo-upload-client ships JavaScript with JSDoc types only, which
// TypeScript does not read from node_modules: the options apollo.ts uses.
declare module 'apollo-upload-client/UploadHttpLink.mjs' {
  import { ApolloLink } from '@apollo/client';

  export default class UploadHttpLink extends ApolloLink {
    constructor(options?: {
      uri?: string;
      fetch?: typeof fetch;
      fetchOptions?: RequestInit;
      credentials?: string;
      headers?: Record<string, string>;
      includeExtensions?: boolean;
    });
  }
}
