// Node 18 (what Ubuntu's nodejs package is, which runs the agent on a VM) has no global `crypto`,
// which the Azure SDKs call for each request's id, one of them as it loads: imported before them.
// From Node 19 on it is there and left alone.
import { webcrypto } from 'crypto';

(globalThis as { crypto?: unknown }).crypto ??= webcrypto;
