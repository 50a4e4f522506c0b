import { utils } from 'ssh2';
import type { SshKeyPair } from './ports';

/**
 * A new ed25519 key pair for clients to reach their instances. ssh2 writes about one key in 250
 * with a 31-byte public half (a leading zero byte dropped) and then cannot parse it back, so a
 * pair is only kept once both halves parse.
 */
export function generateSshKeyPair(): SshKeyPair {
  for (;;) {
    const pair = utils.generateKeyPairSync('ed25519', { comment: 'meadowrun' });
    if (!(utils.parseKey(pair.private) instanceof Error) && !(utils.parseKey(pair.public) instanceof Error)) {
      return { privateKey: pair.private, publicKey: pair.public.trim() };
    }
  }
}

/**
 * The key pair a cloud's secret keeps as JSON `{privateKey, publicKey}`; undefined when the text is
 * not one (the caller says which secret and what to do, never echoing its text).
 */
export function parseSshKeyPair(text: string | undefined): SshKeyPair | undefined {
  try {
    const pair = JSON.parse(text ?? '') as SshKeyPair;
    if (typeof pair.privateKey === 'string' && typeof pair.publicKey === 'string') return { privateKey: pair.privateKey, publicKey: pair.publicKey };
  } catch {
    // not JSON: undefined, as any other text
  }
  return undefined;
}
