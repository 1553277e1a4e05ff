import uWS, { type TemplatedApp, type us_listen_socket } from "uWebSockets.js";

/** A uWS app; callers outside http/ and ws/ never touch uWS types directly. */
export const createApp = (): TemplatedApp => uWS.App();

export interface Listening {
  port: number;
  close(): void;
}

/** Listens on host:port (0 picks a free port) and reports the port actually bound. */
export function listen(app: TemplatedApp, host: string, port: number): Promise<Listening> {
  return new Promise((resolve, reject) => {
    app.listen(host, port, (token: us_listen_socket | false) => {
      if (!token) return reject(new Error(`cannot listen on ${host}:${port}`));
      let open = true;
      resolve({
        port: uWS.us_socket_local_port(token),
        close: () => {
          if (open) uWS.us_listen_socket_close(token);
          open = false;
        },
      });
    });
  });
}

/** Closes every socket of an app (keep-alive connections too). Present at run time in uWS 20.x, not in its types. */
export function closeApp(app: TemplatedApp): void {
  (app as unknown as { close?: () => void }).close?.();
}
