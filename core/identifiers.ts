import { errInvalidArgument } from './errors/catalogue.js';

// containerd's identifier rules: alphanumeric runs joined by single '.', '_' or '-',
// at most 76 characters. IDs become path components, so this is also our guard
// against traversal.
export const MAX_IDENTIFIER_LENGTH = 76;
const identifierRe = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;

export function validateIdentifier(id: string): void {
  if (typeof id !== 'string' || id.length === 0) {
    throw errInvalidArgument('identifier must not be empty');
  }
  if (id.length > MAX_IDENTIFIER_LENGTH) {
    throw errInvalidArgument(
      `identifier ${JSON.stringify(id.slice(0, 20) + '…')} greater than maximum length (${MAX_IDENTIFIER_LENGTH} characters)`,
    );
  }
  if (!identifierRe.test(id)) {
    throw errInvalidArgument(`identifier ${JSON.stringify(id)} must match ${identifierRe.source}`);
  }
}
