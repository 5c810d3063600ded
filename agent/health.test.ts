import type { AddressInfo } from 'node:net';
import type { AgentStatus } from './agent';
import { loadAgentConfig } from './config';
import { serveHealth } from './health';

const idle = (): AgentStatus => ({ state: 'idle', taskId: null, lastContactAt: null, serverReachable: true, tasksRun: 0 });

describe('serveHealth', () => {
  it('listens on loopback only by default, and answers /healthz there', async () => {
    const config = loadAgentConfig({});
    const server = await serveHealth(0, config.healthHost, 'agent-1', idle);
    try {
      const address = server.address() as AddressInfo;
      expect(address.address).toBe('127.0.0.1');
      const res = await fetch(`http://127.0.0.1:${address.port}/healthz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ agentId: 'agent-1', state: 'idle' });
    } finally {
      server.close();
    }
  });

  it('listens on every interface when AGENT_HEALTH_HOST=0.0.0.0 (what a kubelet probe on the pod IP needs)', async () => {
    const config = loadAgentConfig({ AGENT_HEALTH_HOST: '0.0.0.0' });
    const server = await serveHealth(0, config.healthHost, 'agent-2', idle);
    try {
      expect((server.address() as AddressInfo).address).toBe('0.0.0.0');
    } finally {
      server.close();
    }
  });
});
