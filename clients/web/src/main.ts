// The page: sign up / sign in, projects with a live view, file upload and download, and a
// streamed AI answer. Plain DOM; every API call goes through the typed client in api.ts.
import {
  API_URL,
  ApiError,
  api,
  messageOf,
  refresh,
  signIn,
  signOut,
  signUp,
  unwrap,
  type FileView,
  type Project,
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

// ---- Session -------------------------------------------------------------------------

const live = new Live(onFrame, (status) => ($("live-status").textContent = status));

function showSignedIn(signedIn: boolean): void {
  $("loading").hidden = true;
  $("session").hidden = !signedIn;
  $("signed-in").hidden = !signedIn;
  $("signed-out").hidden = signedIn;
}

async function enter(): Promise<void> {
  const me = unwrap(await api.GET("/api/v1/app/users/me"));
  $("user-email").textContent = me.email;
  showSignedIn(true);
  live.start();
  await Promise.all([loadProjects(), loadFiles()]);
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
      selected = null;
      $("live").hidden = true;
      $("ai-answer").textContent = "";
      showSignedIn(false);
    }
  }),
);

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
