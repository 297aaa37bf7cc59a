import type { IncomingMessage } from 'node:http';

// Sub-protocol names and negotiation (k8s.io/apimachinery httpstream, remotecommand,
// portforward and wsstream). For SPDY the server's order decides, v4 first; a
// client that offers nothing gets the original protocol.

export const SPDY_UPGRADE = 'SPDY/3.1';
export const HEADER_PROTOCOL_VERSION = 'X-Stream-Protocol-Version';
export const HEADER_ACCEPTED_VERSIONS = 'X-Accepted-Stream-Protocol-Versions';

export const SPDY_COMMAND_PROTOCOLS = [
  'v4.channel.k8s.io',
  'v5.channel.k8s.io',
  'v3.channel.k8s.io',
  'v2.channel.k8s.io',
  'channel.k8s.io',
];
export const SPDY_PORT_FORWARD_PROTOCOLS = ['portforward.k8s.io'];

export const WS_COMMAND_PROTOCOLS = [
  'v5.channel.k8s.io',
  'v4.channel.k8s.io',
  'v4.base64.channel.k8s.io',
  'channel.k8s.io',
  'base64.channel.k8s.io',
];
/** SPDY carried inside WebSocket binary messages (crictl --transport websocket). */
export const WS_SPDY_TUNNEL = 'SPDY/3.1+portforward.k8s.io';
export const WS_PORT_FORWARD_PROTOCOLS = [
  'v4.channel.k8s.io',
  'v4.base64.channel.k8s.io',
  'channel.k8s.io',
  'base64.channel.k8s.io',
  WS_SPDY_TUNNEL,
];

/** Protocol version number of a channel protocol name (1 for the unversioned ones). */
export function channelVersion(protocol: string): number {
  const m = /^v(\d+)\./.exec(protocol);
  return m ? Number(m[1]) : 1;
}

export function isBase64Channel(protocol: string): boolean {
  return protocol.includes('base64.');
}

/** Every value of a header that may repeat or be comma-joined. */
export function headerList(req: IncomingMessage, name: string): string[] {
  const raw = req.headersDistinct[name.toLowerCase()] ?? [];
  return raw
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
}

/** SPDY: first server protocol the client offers; '' if it offered none; undefined on mismatch. */
export function negotiateByServer(client: string[], server: string[]): string | undefined {
  if (client.length === 0) return '';
  return server.find((p) => client.includes(p));
}

/** WebSocket: first client protocol the server knows; '' if it offered none. */
export function negotiateByClient(client: string[], server: string[]): string | undefined {
  if (client.length === 0) return '';
  return client.find((p) => server.includes(p));
}
