import { createServer, type Server } from 'node:http';
import type { AgentStatus } from './agent';

/** Serves GET /healthz on host:port with the agent's status (docs/api.md, "The agent"); resolves once listening. */
export function serveHealth(port: number, host: string, agentId: string, status: () => AgentStatus): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method === 'GET' && (req.url === '/healthz' || req.url === '/')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ agentId, ...status() }));
      return;
    }
    res.writeHead(404, { 'content-type': 'application/problem+json' });
    res.end(JSON.stringify({ type: 'about:blank', title: 'Not found', status: 404, detail: 'Only GET /healthz is served here.' }));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
