// The page: sign up / sign in, email verification, organizations (switcher, members,
// invitations), projects with a live view, file upload and download, and a streamed AI
// answer. Plain DOM; every API call goes through the typed client in api.ts.
import {
  API_URL,
  ApiError,
  activeTenant,
  api,
  messageOf,
  refresh,
  signIn,
  signOut,
  signUp,
  switchTenant,
  unwrap,
  type FileView,
  type Invitation,
  type Member,
  type Organization,
  type Project,
  type User,
} from "./api";
import { Live, type ServerFrame } from "./live";
import { readEvents } from "./sse";

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`#${id} is missing`);
  return element as T;
}

const errorBox = $("error");

/** Runs a UI action; whatever fails shows its message (the API's `error.message`). */
async function run(action: () => Promise<void>): Promise<void> {
  errorBox.textContent = "";
  try {
    await action();
  } catch (error) {
    errorBox.textContent = error instanceof Error ? error.message : String(error);
  }
}

/** Binds a form's submit to an action that gets the form's fields. */
function onSubmit(id: string, action: (fields: FormData, submitter: string) => Promise<void>): void {
  const form = $<HTMLFormElement>(id);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const submitter = (event.submitter as HTMLButtonElement | null)?.value ?? "";
    void run(() => action(new FormData(form), submitter));
  });
}

const field = (fields: FormData, name: string): string => String(fields.get(name) ?? "").trim();

/** A button that runs an action. */
function button(text: string, testid: string, action: () => Promise<void>): HTMLButtonElement {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = text;
  element.dataset.testid = testid;
  element.addEventListener("click", () => run(action));
  return element;
}

// ---- Session -------------------------------------------------------------------------

const live = new Live(onFrame, (status) => ($("live-status").textContent = status));

function showSignedIn(signedIn: boolean): void {
  $("loading").hidden = true;
  $("session").hidden = !signedIn;
  $("signed-in").hidden = !signedIn;
  $("signed-out").hidden = signedIn;
}

let me: User | null = null;

async function enter(): Promise<void> {
  me = unwrap(await api.GET("/api/v1/app/users/me"));
  $("user-email").textContent = me.email;
  showSignedIn(true);
  live.start();
  await Promise.all([loadTenants(), loadProjects(), loadFiles()]);
  // Its own run: a refused invitation leaves the page signed in, its message shown.
  if (invitation !== null) void run(acceptInvitation);
}

onSubmit("auth-form", async (fields, action) => {
  const email = field(fields, "email");
  const password = String(fields.get("password") ?? "");
  if (action === "sign-up") await signUp(email, password, field(fields, "full_name"));
  else await signIn(email, password);
  $<HTMLFormElement>("auth-form").reset();
  await enter();
});

$("sign-out").addEventListener("click", () =>
  run(async () => {
    live.stop();
    try {
      await signOut();
    } finally {
      me = null;
      deselect();
      $("ai-answer").textContent = "";
      $("invitation").hidden = invitation === null;
      showSignedIn(false);
    }
  }),
);

// ---- Organizations: the active tenant, its members and invitations --------------------

let tenants: Organization[] = [];

/** The tenant the access token acts in (the personal one, listed first, if unknown). */
const current = (): Organization | undefined =>
  tenants.find((tenant) => tenant.id === activeTenant()) ?? tenants[0];

const manages = (tenant: Organization): boolean =>
  tenant.role === "owner" || tenant.role === "admin";

async function loadTenants(): Promise<void> {
  tenants = unwrap(await api.GET("/api/v1/app/organizations")).items;
  renderTenants();
  await loadMembers();
}

function renderTenants(): void {
  const active = current();
  $("tenant-select").replaceChildren(
    ...tenants.map((tenant) => {
      const label = tenant.kind === "personal" ? `${tenant.name} (personal)` : tenant.name;
      return new Option(label, tenant.id, false, tenant.id === active?.id);
    }),
  );
}

/**
 * Act in tenant `id`: a token for it, then everything that is the tenant's again. The
 * socket reconnects, since its channels are those of the tenant it connected in.
 */
async function switchTo(id: string): Promise<void> {
  await switchTenant(id);
  deselect();
  live.stop();
  live.start();
  await Promise.all([loadTenants(), loadProjects(), loadFiles()]);
}

const tenantSelect = $<HTMLSelectElement>("tenant-select");
tenantSelect.addEventListener("change", () =>
  run(() => switchTo(tenantSelect.value).finally(renderTenants)),
);

onSubmit("organization-form", async (fields) => {
  unwrap(await api.POST("/api/v1/app/organizations", { body: { name: field(fields, "name") } }));
  $<HTMLFormElement>("organization-form").reset();
  await loadTenants();
});

/** The active organization's members, and its open invitations for an owner or admin. */
async function loadMembers(): Promise<void> {
  const tenant = current();
  const organization = tenant?.kind === "organization" ? tenant : null;
  $("members-view").hidden = organization === null;
  if (organization === null) return;
  const managing = manages(organization);
  $("invitations-view").hidden = !managing;
  const path = { params: { path: { id: organization.id } } };
  const [members, invitations] = await Promise.all([
    api.GET("/api/v1/app/organizations/{id}/members", path),
    managing ? api.GET("/api/v1/app/organizations/{id}/invitations", path) : null,
  ]);
  $("members").replaceChildren(
    ...unwrap(members).items.map((member) => memberItem(organization, member)),
  );
  $("invitations").replaceChildren(
    ...(invitations ? unwrap(invitations).items : []).map((i) => invitationItem(organization, i)),
  );
}

const ROLES = ["owner", "admin", "member", "viewer"];

function memberItem(organization: Organization, member: Member): HTMLLIElement {
  const item = document.createElement("li");
  item.dataset.testid = "member-item";
  item.append(member.full_name ? `${member.full_name} <${member.email}> ` : `${member.email} `);
  const path = { params: { path: { id: organization.id, user_id: member.user_id } } };
  let role: HTMLElement;
  if (manages(organization) && member.role !== "owner") {
    // Only the owner may give `owner`: that transfers ownership, the old owner becomes admin.
    const roles = organization.role === "owner" ? ROLES : ROLES.slice(1);
    const select = document.createElement("select");
    select.append(...roles.map((r) => new Option(r, r, false, r === member.role)));
    select.addEventListener("change", () =>
      run(async () => {
        const body = { role: select.value };
        try {
          unwrap(
            await api.PATCH("/api/v1/app/organizations/{id}/members/{user_id}", { ...path, body }),
          );
        } finally {
          // Refused, the select shows the role again; done, one's own role may have changed
          // too (the owner's, after a transfer).
          await loadTenants();
        }
      }),
    );
    role = select;
  } else {
    role = document.createElement("span");
    role.textContent = member.role;
  }
  role.dataset.testid = "member-role";
  item.append(role);
  // The owner leaves only by transferring ownership first.
  const self = member.user_id === me?.id;
  if (member.role !== "owner" && (self || manages(organization))) {
    const remove = button(self ? "Leave" : "Remove", "remove-member", async () => {
      unwrap(await api.DELETE("/api/v1/app/organizations/{id}/members/{user_id}", path));
      const personal = tenants.find((tenant) => tenant.kind === "personal");
      if (self && personal !== undefined) await switchTo(personal.id);
      else await loadMembers();
    });
    item.append(" ", remove);
  }
  return item;
}

function invitationItem(organization: Organization, invitation: Invitation): HTMLLIElement {
  const item = document.createElement("li");
  item.dataset.testid = "invitation-item";
  const until = new Date(invitation.expires_at).toLocaleDateString();
  const path = { params: { path: { id: organization.id, invitation_id: invitation.id } } };
  const revoke = button("Revoke", "revoke-invitation", async () => {
    unwrap(await api.DELETE("/api/v1/app/organizations/{id}/invitations/{invitation_id}", path));
    await loadMembers();
  });
  item.append(`${invitation.email} as ${invitation.role}, until ${until} `, revoke);
  return item;
}

onSubmit("invite-form", async (fields) => {
  const organization = current();
  if (organization?.kind !== "organization") return;
  unwrap(
    await api.POST("/api/v1/app/organizations/{id}/invitations", {
      params: { path: { id: organization.id } },
      body: { email: field(fields, "email"), role: field(fields, "role") },
    }),
  );
  $<HTMLFormElement>("invite-form").reset();
  await loadMembers();
});

// ---- Accepting an invitation: the mailed link, <APP_URL>/accept-invitation?token=… ------

// The link's token until it is accepted: signed out, the page asks to sign in or up first.
// A refused one stays in the address bar, so opening the page again tries again.
let invitation =
  location.pathname === "/accept-invitation"
    ? new URLSearchParams(location.search).get("token")
    : null;
$("invitation").hidden = invitation === null;

async function acceptInvitation(): Promise<void> {
  if (invitation === null) return;
  const body = { token: invitation };
  const joined = unwrap(await api.POST("/api/v1/app/invitations/accept", { body }));
  invitation = null;
  history.replaceState(null, "", "/"); // the link works once
  const { id, name } = joined.organization;
  $("invitation-text").textContent = `You joined ${name} as ${joined.role}.`;
  const join = $("invitation-switch");
  join.textContent = `Switch to ${name}`;
  join.hidden = false;
  join.onclick = () =>
    run(async () => {
      await switchTo(id);
      $("invitation").hidden = true;
    });
  await loadTenants();
}

// ---- Verifying the address: the mailed link, <APP_URL>/verify-email?token=… -----------

// Signed in or not: the token alone verifies (a public route). It works once, so a
// verified one leaves the address bar; a refused one stays, so opening the page again
// tries again.
const verification =
  location.pathname === "/verify-email"
    ? new URLSearchParams(location.search).get("token")
    : null;
$("verification").hidden = verification === null;

async function verifyEmail(token: string): Promise<void> {
  const status = $("verification-status");
  status.dataset.state = "pending";
  try {
    unwrap(await api.POST("/api/v1/public/auth/verify-email", { body: { token } }));
    history.replaceState(null, "", "/");
    status.textContent = "Your email is verified.";
    status.dataset.state = "verified";
  } catch (error) {
    // Shown here, not in the error line, which the next action clears.
    status.textContent = error instanceof Error ? error.message : String(error);
    status.dataset.state = "failed";
  }
}

if (verification !== null) void verifyEmail(verification);

// ---- Projects and the live view ------------------------------------------------------

let projects: Project[] = [];
let selected: Project | null = null;

async function loadProjects(): Promise<void> {
  const page = unwrap(await api.GET("/api/v1/app/projects", { params: { query: { limit: 50 } } }));
  projects = page.items;
  renderProjects();
}

function renderProjects(): void {
  $("projects").replaceChildren(
    ...projects.map((project) => {
      const open = document.createElement("button");
      open.type = "button";
      open.textContent = project.name;
      open.dataset.testid = "project-item";
      open.dataset.projectId = project.id;
      open.addEventListener("click", () => select(project));
      const item = document.createElement("li");
      item.append(open);
      return item;
    }),
  );
}

function deselect(): void {
  selected = null;
  $("live").hidden = true;
}

function select(project: Project): void {
  selected = project;
  $("live").hidden = false;
  $("live-name").textContent = project.name;
  $<HTMLInputElement>("rename-input").value = project.name;
  $("live-status").textContent = "subscribing…";
  live.follow(`project:${project.id}`);
}

/** A newer version of a project, from an API answer or a realtime event. */
function updated(project: Project): void {
  projects = projects.map((p) => (p.id === project.id ? project : p));
  renderProjects();
  if (selected?.id === project.id) {
    selected = project;
    $("live-name").textContent = project.name;
    const input = $<HTMLInputElement>("rename-input");
    if (document.activeElement !== input) input.value = project.name;
  }
}

function onFrame(frame: ServerFrame): void {
  if (frame.type === "subscribed" && frame.channel === `project:${selected?.id}`) {
    $("live-status").textContent = `subscribed to ${frame.channel}`;
  } else if (frame.type === "event" && frame.event === "project.updated") {
    updated(frame.data as Project);
  } else if (frame.type === "error") {
    errorBox.textContent = frame.message;
  }
}

onSubmit("project-form", async (fields) => {
  const project = unwrap(
    await api.POST("/api/v1/app/projects", { body: { name: field(fields, "name") } }),
  );
  $<HTMLFormElement>("project-form").reset();
  // The list loaded at sign-in may already hold it (read after the create).
  projects = [project, ...projects.filter((p) => p.id !== project.id)];
  renderProjects();
  select(project);
});

onSubmit("rename-form", async (fields) => {
  if (selected === null) return;
  const renamed = await api.PATCH("/api/v1/app/projects/{project_id}", {
    params: { path: { project_id: selected.id } },
    body: { name: field(fields, "name") },
  });
  updated(unwrap(renamed));
});

// ---- Files: presigned PUT straight to S3, confirm, presigned GET ---------------------

async function loadFiles(): Promise<void> {
  const page = unwrap(await api.GET("/api/v1/app/files", { params: { query: { limit: 50 } } }));
  $("files").replaceChildren(...page.items.map(fileItem));
}

function fileItem(file: FileView): HTMLLIElement {
  const item = document.createElement("li");
  item.dataset.testid = "file-item";
  const download = document.createElement("button");
  download.type = "button";
  download.textContent = "Download";
  download.dataset.testid = "download";
  download.addEventListener("click", () => run(() => fetchFile(file, item)));
  item.append(`${file.filename} (${file.size} bytes) `, download);
  return item;
}

async function fetchFile(file: FileView, item: HTMLLIElement): Promise<void> {
  const { download_url } = unwrap(
    await api.GET("/api/v1/app/files/{file_id}/download-url", {
      params: { path: { file_id: file.id } },
    }),
  );
  const response = await fetch(download_url);
  if (!response.ok) throw new Error(`Download failed: HTTP ${response.status}`);
  const bytes = await response.arrayBuffer();
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([bytes], { type: file.content_type }));
  link.download = file.filename;
  link.textContent = `Save ${file.filename}`;
  link.dataset.testid = "download-link";
  link.dataset.size = String(bytes.byteLength);
  link.dataset.sha256 = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  const previous = item.querySelector("a");
  if (previous !== null) {
    URL.revokeObjectURL(previous.href);
    previous.remove();
  }
  item.append(link);
}

$<HTMLInputElement>("file-input").addEventListener("change", (event) => {
  const input = event.currentTarget as HTMLInputElement;
  const file = input.files?.[0];
  if (file === undefined) return;
  void run(async () => {
    const contentType = file.type || "application/octet-stream";
    const upload = unwrap(
      await api.POST("/api/v1/app/files/upload-url", {
        body: { filename: file.name, content_type: contentType, size: file.size },
      }),
    );
    // The URL is signed over the type and length: send exactly those (the browser sets
    // Content-Length from the body).
    const put = await fetch(upload.upload_url, {
      method: "PUT",
      body: file,
      headers: { "Content-Type": contentType },
    });
    if (!put.ok) throw new Error(`Upload to storage failed: HTTP ${put.status}`);
    unwrap(await api.POST("/api/v1/app/files/confirm", { body: { file_id: upload.file_id } }));
    input.value = "";
    await loadFiles();
  });
});

// ---- AI: the answer rendered as it streams ----------------------------------------------

onSubmit("ai-form", async (fields) => {
  const answer = $("ai-answer");
  const usage = $("ai-usage");
  answer.textContent = "";
  usage.textContent = "";
  delete answer.dataset.done;
  const status = unwrap(await api.GET("/api/v1/app/ai/status"));
  if (!status.available) throw new Error("AI is not configured on this server");
  // The streaming function's URL (API Gateway HTTP APIs cannot stream). It is authorised
  // by the bearer token alone, so no cookies go there.
  const { data, error, response } = await api.POST("/api/v1/app/ai/chat", {
    baseUrl: status.stream_url ?? API_URL,
    body: { prompt: field(fields, "prompt"), stream: true },
    parseAs: "stream",
    credentials: "omit",
  });
  if (error !== undefined || !data) throw new ApiError(messageOf(error, response), response.status);
  for await (const { event, data: text } of readEvents(data)) {
    if (event === "usage") {
      const used = JSON.parse(text) as { total_tokens: number; model: string };
      usage.textContent = `${used.total_tokens} tokens, ${used.model}`;
    } else if (event === "error") {
      const failure: unknown = JSON.parse(text);
      throw new ApiError(messageOf(failure, response), response.status);
    } else if (text === "[DONE]") {
      break;
    } else {
      answer.textContent += text;
    }
  }
  answer.dataset.done = "true";
});

// ---- Start: a valid refresh cookie signs the user in without a form ---------------------

void run(async () => {
  try {
    if (await refresh()) return await enter();
  } catch (error) {
    showSignedIn(false); // the API is unreachable: the form, with the reason above it
    throw error;
  }
  showSignedIn(false);
});
