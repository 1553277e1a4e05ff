import { systemClock } from "./clock.js";
import type { GatewayDeps } from "./gateway-deps.js";
import { ccCors } from "./http/cors.js";
import { closeApp, createApp, type Listening, listen } from "./http/listen.js";
import { registerOpsRoutes } from "./http/ops-routes.js";
import { Router } from "./http/router.js";
import { registerRoutes } from "./http/routes/register-routes.js";
import { InFlight, serveRouter } from "./http/serve.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { buildServices, type Services } from "./services.js";
import { buildWsLayer, type WsLayer } from "./ws/ws-module.js";

export interface Gateway {
  publicPort: number;
  internalPort: number;
  metrics: Metrics;
  services: Services;
  ws: WsLayer;
  /** The HTTP routes each listener serves (method and pattern), read-only. */
  routes(): {
    public: { method: string; pattern: string }[];
    internal: { method: string; pattern: string }[];
  };
  /** Graceful stop (contract §8): stop accepting, drain, flush. Does not close the adapters. */
  close(): Promise<void>;
}

/** Time allowed for in-flight requests to finish during shutdown. */
const DRAIN_MS = 5000;
/**
 * Then, with every connection closed, time for work still running (a request
 * cut by the close, a frame past the socket deadline) to keep its
 * idempotency result before its claim is released; within main's 9 s limit.
 */
const SETTLE_MS = 2500;

export async function startGateway(deps: GatewayDeps): Promise<Gateway> {
  const { config, log } = deps;
  const metrics = createMetrics();
  const inFlight = new InFlight();
  const serveOpts = {
    log,
    trustProxy: config.TRUST_PROXY,
    onFinished: (method: string, status: number, seconds: number) => {
      metrics.httpRequests.inc({ method, status: String(status) });
      metrics.httpDuration.observe(seconds);
    },
  };

  const services = buildServices({ ...deps, metrics, now: deps.now ?? systemClock });

  const publicRouter = new Router();
  const internalRouter = new Router();
  registerOpsRoutes(internalRouter, {
    pool: deps.pool,
    metrics,
    valkeyState: () => deps.valkeyHealth?.state ?? null,
  });
  registerRoutes(publicRouter, internalRouter, services);
  await services.start();

  const publicApp = createApp();
  const internalApp = createApp();
  const ws = buildWsLayer(services, publicApp, internalApp);
  await ws.start();
  serveRouter(publicApp, publicRouter, serveOpts, inFlight);
  serveRouter(internalApp, internalRouter, { ...serveOpts, cors: ccCors(config.CC_ORIGINS) }, inFlight);

  const listeners: Listening[] = [];
  try {
    listeners.push(await listen(publicApp, config.PUBLIC_HOST, config.PUBLIC_PORT));
    listeners.push(await listen(internalApp, config.INTERNAL_HOST, config.INTERNAL_PORT));
  } catch (err) {
    for (const l of listeners) l.close();
    await ws.stop();
    await services.stop();
    throw err;
  }
  const [pub, internal] = listeners as [Listening, Listening];
  if (!config.CC_PUBLIC_URL) {
    const host = config.INTERNAL_HOST === "0.0.0.0" ? "127.0.0.1" : config.INTERNAL_HOST;
    services.links.ccPublicUrl = `http://${host}:${internal.port}/internal`;
  }

  let closing: Promise<void> | undefined;
  return {
    publicPort: pub.port,
    internalPort: internal.port,
    metrics,
    services,
    ws,
    routes: () => ({ public: publicRouter.routes(), internal: internalRouter.routes() }),
    close: () => {
      closing ??= (async () => {
        for (const l of listeners) l.close();
        await Promise.all([ws.stop(), inFlight.drained(DRAIN_MS)]);
        closeApp(publicApp);
        closeApp(internalApp);
        // Before anything the work needs stops (timers, Valkey, the pool): no claim may outlive us.
        await services.idempotency.settle(SETTLE_MS);
        await services.stop();
      })();
      return closing;
    },
  };
}
