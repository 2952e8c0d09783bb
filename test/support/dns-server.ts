import dns2 from 'dns2';

const { Packet } = dns2;

/** A DNS server on loopback whose A records a test changes at will (a headless Service's pods). */
export interface TestDnsServer {
  /** IP:PORT, for MESSAGE_DNS_SERVER. */
  address: string;
  set(name: string, addresses: string[]): void;
  close(): Promise<void>;
}

/** Starts the server; unknown names are NXDOMAIN, AAAA questions get no records. */
export async function startDnsServer(): Promise<TestDnsServer> {
  const records = new Map<string, string[]>();
  const server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      for (const q of request.questions) {
        const known = records.get(q.name.toLowerCase());
        if (!known)
          response.header.rcode = 3; // NXDOMAIN
        else if (q.type === Packet.TYPE.A) {
          // Plain records are what the encoder reads; the typings ask for a Resource instance.
          for (const address of known)
            response.answers.push({ name: q.name, type: Packet.TYPE.A, class: Packet.CLASS.IN, ttl: 1, address } as (typeof response.answers)[number]);
        }
      }
      void send(response);
    },
  });
  const addresses = await server.listen({ udp: { port: 0, address: '127.0.0.1' } });
  return {
    address: `127.0.0.1:${addresses.udp!.port}`,
    set: (name, list) => void records.set(name.toLowerCase(), [...list]),
    close: () => server.close(),
  };
}
