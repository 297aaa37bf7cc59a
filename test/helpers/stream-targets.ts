import http from 'node:http';
import net from 'node:net';

// Loopback servers that port-forward tests connect to.

export interface Served {
  port: number;
  close(): Promise<void>;
}

/** Echoes every byte back and closes its side when the client does. */
export async function echoServer(): Promise<Served> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.pipe(s);
  });
  return listen(server, sockets);
}

/** Answers every request with its name in the body. */
export async function httpServer(name: string): Promise<Served> {
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    res.setHeader('Connection', 'close');
    res.end(`hello from ${name} ${req.url}\n`);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return listen(server, sockets);
}

async function listen(server: net.Server, sockets: Set<net.Socket>): Promise<Served> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
