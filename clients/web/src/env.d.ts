/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** The API's base URL; default `http://<page's host name>:9000`. */
  readonly VITE_API_URL?: string;
  /** The WebSocket gateway's base URL; default `ws://<page's host name>:9001`. */
  readonly VITE_WS_URL?: string;
}
