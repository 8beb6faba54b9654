// Register, sign in and list projects through the typed client. `make client` type-checks
// this file against the types generated from openapi.json, so a renamed path, field or
// parameter in the API breaks the build here before it breaks a real client.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

type ErrorBody = components["schemas"]["ErrorBody"];
type LoginRequest = components["schemas"]["LoginRequest"];
type Project = components["schemas"]["Project"];

/** `make dev` serves every function here. */
const LOCAL_API = "http://127.0.0.1:9000";

/** The one error shape of the API, as a readable message. */
function describe(error: ErrorBody): string {
  return `${error.error.code}: ${error.error.message}`;
}

export async function listMyProjects(
  baseUrl: string,
  email: string,
  password: string,
): Promise<Project[]> {
  const api = createClient<paths>({ baseUrl });

  const registered = await api.POST("/api/v1/public/auth/register", {
    body: { email, password, full_name: "Example User" },
  });
  // 409: the account exists already, which is fine for signing in below.
  if (registered.error && registered.response.status !== 409) {
    throw new Error(`register failed: ${describe(registered.error)}`);
  }
  if (registered.data) {
    console.log(`registered ${registered.data.email} as ${registered.data.role}`);
  }

  // Login also takes the OAuth2 form; openapi-fetch types the body as either shape, so
  // naming the JSON one keeps `{ username, password }` sent as JSON from type-checking.
  const credentials: LoginRequest = { email, password };
  const login = await api.POST("/api/v1/public/auth/login", { body: credentials });
  if (login.error) {
    throw new Error(`login failed: ${describe(login.error)}`);
  }
  const accessToken: string = login.data.access_token;

  const page = await api.GET("/api/v1/app/projects", {
    params: { query: { limit: 20, sort: "name", order: "asc" } },
    headers: { Authorization: `Bearer ${accessToken}` },
  });
  if (page.error) {
    throw new Error(`listing projects failed: ${describe(page.error)}`);
  }
  console.log(`${page.data.items.length} of ${page.data.total} projects`);
  return page.data.items;
}

export async function main(): Promise<void> {
  const projects = await listMyProjects(LOCAL_API, "example@example.com", "correct horse battery");
  for (const project of projects) {
    console.log(`${project.id}  ${project.name}`);
  }
}
