/**
 * Connection reuse for API calls. @kubernetes/client-node 1.x builds a fresh http(s).Agent for
 * every request (KubeConfig.applySecurityAuthentication), so every call opens a new TCP
 * connection — and against a real cluster, a new TLS handshake. jobwire makes several calls per
 * run; at a few hundred runs a second that is most of the cost on both sides.
 *
 * So each request's agent is swapped for a keep-alive agent built from the same options, shared
 * by the requests whose TLS options (CA, client certificate and key, server name, verification)
 * are the same. Options change only when credentials rotate (an exec plugin's new client
 * certificate); then a new shared agent is made and the old one is left to close its idle
 * sockets. Proxy agents (cluster.proxyUrl) are left as they are.
 */
import http from 'node:http';
import https from 'node:https';
import { isDeepStrictEqual } from 'node:util';

/** Idle keep-alive sockets are closed after this long (the API server may drop them sooner). */
const IDLE_SOCKET_MS = 30_000;

/** The TLS-relevant fields KubeConfig sets on its agents. */
const TLS_FIELDS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const;

type Agent = http.Agent | https.Agent;

export interface AgentReuser {
  /** The shared keep-alive agent to use instead of `fresh`, or `fresh` itself when it cannot be shared. */
  reuse(fresh: Agent | undefined): Agent | undefined;
  /** Closes the shared agents' sockets. */
  destroy(): void;
}

export function createAgentReuser(): AgentReuser {
  let httpAgent: http.Agent | undefined;
  let httpsAgent: { agent: https.Agent; tls: Record<string, unknown> } | undefined;
  const retired: Agent[] = [];
  return {
    reuse(fresh) {
      if (fresh === undefined) return fresh;
      // Exact classes only: subclasses (proxy agents) carry state this cannot copy.
      if (fresh.constructor === https.Agent) {
        const options = (fresh as https.Agent).options;
        const tls = Object.fromEntries(TLS_FIELDS.map((field) => [field, options[field]]));
        if (httpsAgent === undefined || !isDeepStrictEqual(httpsAgent.tls, tls)) {
          if (httpsAgent !== undefined) retired.push(httpsAgent.agent);
          httpsAgent = { agent: new https.Agent({ ...options, keepAlive: true, timeout: IDLE_SOCKET_MS }), tls };
        }
        return httpsAgent.agent;
      }
      if (fresh.constructor === http.Agent) {
        httpAgent ??= new http.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS });
        return httpAgent;
      }
      return fresh;
    },
    destroy() {
      httpAgent?.destroy();
      httpsAgent?.agent.destroy();
      for (const agent of retired.splice(0)) agent.destroy();
    },
  };
}
