// The typed API client: openapi-fetch over the types generated from Aloft's OpenAPI
// document, the access token in memory only, and the refresh cookie handled by the browser.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "../../typescript/src/schema";

export type ErrorBody = components["schemas"]["ErrorBody"];
export type Project = components["schemas"]["Project"];
export type FileView = components["schemas"]["FileView"];
export type User = components["schemas"]["UserProfile"];
export type Organization = components["schemas"]["OrganizationView"];
export type Member = components["schemas"]["MemberView"];
export type Invitation = components["schemas"]["InvitationView"];

// Same host name as the page, so the SameSite=Strict refresh cookie is same-site
// (a page on localhost talks to localhost, one on 127.0.0.1 to 127.0.0.1).
export const API_URL: string = import.meta.env.VITE_API_URL ?? `http://${location.hostname}:9000`;
export const WS_URL: string = import.meta.env.VITE_WS_URL ?? `ws://${location.hostname}:9001`;

/** An API call that failed; `message` is the error envelope's `error.message`. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

function isErrorBody(value: unknown): value is ErrorBody {
  const error = (value as Partial<ErrorBody> | null)?.error;
  return typeof error === "object" && error !== null && typeof error.message === "string";
}

/** The message to show for a failed response: the envelope's, else the HTTP status. */
export function messageOf(error: unknown, response: Response): string {
  return isErrorBody(error) ? error.error.message : `HTTP ${response.status} ${response.statusText}`;
}

/** The data of a successful openapi-fetch result; throws an ApiError otherwise. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (!result.response.ok) {
    throw new ApiError(messageOf(result.error, result.response), result.response.status);
  }
  return result.data as T;
}

// The access token lives here and nowhere else (never localStorage): a reload loses it,
// and `refresh()` gets a new one from the httpOnly cookie.
let accessToken: string | null = null;
let expiresAt = 0;
let tenantId: string | null = null;

function currentToken(): string | null {
  return accessToken !== null && Date.now() < expiresAt ? accessToken : null;
}

/** A token that is still good: the current one, or a new one from the refresh cookie. */
export async function freshToken(): Promise<string | null> {
  return currentToken() ?? ((await refresh()) ? currentToken() : null);
}

function setToken(token: components["schemas"]["TokenResponse"] | null): void {
  accessToken = token?.access_token ?? null;
  // Counted as expired a tenth of its lifetime early, so it is not sent at the last moment.
  expiresAt = token ? Date.now() + token.expires_in * 900 : 0;
  tenantId = accessToken === null ? null : tenantOf(accessToken);
}

/** The tenant a token acts in: its `tid` claim, read for display (the API verifies it). */
function tenantOf(token: string): string | null {
  try {
    const payload = (token.split(".")[1] ?? "").replace(/-/g, "+").replace(/_/g, "/");
    const { tid } = JSON.parse(atob(payload)) as { tid?: unknown };
    return typeof tid === "string" ? tid : null;
  } catch {
    return null; // not a JWT of ours
  }
}

/**
 * The active tenant (personal or organization) of the last token. The refresh cookie's
 * session keeps it server-side, so a refresh or a reload stays in it.
 */
export function activeTenant(): string | null {
  return tenantId;
}

// `credentials: "include"` on every call: login and refresh receive the cookie, refresh
// and logout send it (the API's CORS allows this page's origin with credentials).
export const api = createClient<paths>({ baseUrl: API_URL, credentials: "include" });

let refreshing: Promise<boolean> | null = null;

/**
 * Exchange the refresh cookie for a new access token. Concurrent callers share one
 * request: a refresh token is single-use, and presenting a rotated one revokes the family.
 */
export function refresh(): Promise<boolean> {
  refreshing ??= api
    .POST("/api/v1/public/auth/refresh")
    .then(({ data }) => {
      setToken(data ?? null);
      return data !== undefined;
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

export async function signIn(email: string, password: string): Promise<void> {
  const body: components["schemas"]["LoginRequest"] = { email, password };
  setToken(unwrap(await api.POST("/api/v1/public/auth/login", { body })));
}

export async function signUp(email: string, password: string, fullName: string): Promise<void> {
  unwrap(
    await api.POST("/api/v1/public/auth/register", {
      body: { email, password, full_name: fullName || null },
    }),
  );
  await signIn(email, password);
}

/** Act in another of the caller's tenants from now on: a token for it replaces ours. */
export async function switchTenant(id: string): Promise<void> {
  const switched = await api.POST("/api/v1/app/organizations/{id}/switch", {
    params: { path: { id } },
  });
  setToken(unwrap(switched));
}

export async function signOut(): Promise<void> {
  try {
    unwrap(await api.POST("/api/v1/public/auth/logout"));
  } finally {
    setToken(null);
  }
}

// Bearer token on every /app call, refreshed first when it has expired; on a 401 all the
// same (revoked, clocks apart), refresh once and retry once. The request is cloned before
// it is sent, since sending consumes its body.
const pending = new Map<string, Request>();

const auth: Middleware = {
  async onRequest({ request, schemaPath, id }) {
    if (schemaPath.includes("/public/")) return undefined;
    const token = await freshToken();
    if (token === null) return undefined; // signed out: the API answers 401
    request.headers.set("Authorization", `Bearer ${token}`);
    pending.set(id, request.clone());
    return request;
  },
  async onResponse({ response, id, options }) {
    const original = pending.get(id);
    pending.delete(id);
    if (response.status !== 401 || original === undefined || !(await refresh())) return undefined;
    original.headers.set("Authorization", `Bearer ${accessToken}`);
    const { fetch } = options; // the client's fetch, called unbound as the client calls it
    return fetch(original);
  },
  onError({ id }) {
    pending.delete(id);
  },
};
api.use(auth);
