// The realtime connection: one WebSocket per signed-in page, authenticated by the access
// token in the URL, subscribed to the selected project's channel. When the socket closes
// it reconnects with a valid token (refreshed if the old one expired).
import { WS_URL, freshToken } from "./api";

/** The frames the server sends (shared/realtime/src/event.rs). */
export type ServerFrame =
  | { type: "connected"; data: { user_id: string; connected_at: string } }
  | { type: "subscribed" | "unsubscribed"; channel: string }
  | { type: "event"; event: string; channel: string; data: unknown; timestamp: string }
  | { type: "channel_message"; channel: string; data: unknown; sender_id: string; timestamp: string }
  | { type: "notification"; data: unknown }
  | { type: "error"; code: string; message: string };

export class Live {
  private socket: WebSocket | null = null;
  private running = false;
  private channel: string | null = null;
  private retryMs = 1000;

  constructor(
    private readonly onFrame: (frame: ServerFrame) => void,
    private readonly onStatus: (status: string) => void,
  ) {}

  start(): void {
    this.running = true;
    void this.connect();
  }

  stop(): void {
    this.running = false;
    this.channel = null;
    this.socket?.close();
    this.socket = null;
  }

  /** Follow one channel (`project:<id>`) instead of the previous one. */
  follow(channel: string): void {
    if (this.channel !== null && this.channel !== channel) this.send("unsubscribe", this.channel);
    this.channel = channel;
    this.send("subscribe", channel);
  }

  private async connect(): Promise<void> {
    const token = await freshToken().catch(() => undefined); // undefined: API unreachable
    if (!this.running) return;
    if (token === undefined) return this.reconnectLater("API unreachable, retrying");
    if (token === null) return this.onStatus("signed out");
    const socket = new WebSocket(`${WS_URL}/api/v1/app/ws?token=${encodeURIComponent(token)}`);
    this.socket = socket;
    this.onStatus("connecting");
    // The `connected` greeting comes through a queue and may arrive after the answers to
    // the first frames, so subscribing does not wait for it.
    socket.onopen = () => {
      this.retryMs = 1000;
      this.onStatus("open");
      if (this.channel !== null) this.send("subscribe", this.channel);
    };
    socket.onmessage = (message: MessageEvent<string>) => {
      this.onFrame(JSON.parse(message.data) as ServerFrame);
    };
    socket.onclose = () => {
      if (this.socket === socket) this.reconnectLater("closed, reconnecting"); // else stopped
    };
  }

  private reconnectLater(status: string): void {
    this.onStatus(status);
    const socket = this.socket;
    setTimeout(() => this.running && this.socket === socket && void this.connect(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, 30_000);
  }

  private send(type: "subscribe" | "unsubscribe", channel: string): void {
    if (this.socket?.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ type, channel }));
    }
  }
}
