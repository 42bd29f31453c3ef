// The pattern docs/streaming-clients.md documents: run a test with fetch-event-source (one Idempotency-Key per
// click, stop on `done`, fail onclose without `done`), then follow the run with a plain EventSource and a
// stream token. The API's base URL, workspace and token come from the page's query string.
import { fetchEventSource } from "./vendor/fetch-event-source/index.js";

const params = new URLSearchParams(location.search);
const api = params.get("api");
const workspaceId = params.get("workspace");
const token = params.get("token");
const body = JSON.parse(params.get("body"));
const base = `${api}/api/v1/workspaces/${workspaceId}/destinations`;
const headers = { Authorization: `Bearer ${token}`, "X-Workspace-ID": workspaceId };
window.report = { attempts: 0, steps: [], done: null, runId: null, followed: [], followState: null };

class Stop extends Error {}

function show(list, text) {
  const item = document.createElement("li");
  item.textContent = text;
  document.getElementById(list).append(item);
}

document.getElementById("run").addEventListener("click", async () => {
  const key = crypto.randomUUID();
  await fetchEventSource(`${base}/test`, {
    method: "POST",
    headers: { ...headers, "Idempotency-Key": key, "Content-Type": "application/json" },
    body: JSON.stringify(body),
    openWhenHidden: true,
    async onopen(response) {
      window.report.attempts += 1;
      if (!response.ok) throw new Stop(`HTTP ${response.status}: ${await response.text()}`);
      window.report.runId = response.headers.get("X-Test-Run-ID");
    },
    onmessage(event) {
      const data = JSON.parse(event.data);
      if (event.event === "step") {
        window.report.steps.push(data.name);
        show("run-steps", `${data.name}: ${data.status}`);
      }
      if (event.event === "done") window.report.done = data;
    },
    onclose() {
      if (!window.report.done) throw new Error("The stream ended before done");
    },
    onerror(error) {
      if (error instanceof Stop) throw error;
    },
  }).catch((error) => {
    window.report.error = String(error);
  });
  document.getElementById("run-result").textContent = window.report.done
    ? `done: success=${window.report.done.success} run=${window.report.done.test_run_id}`
    : `failed: ${window.report.error}`;
  document.getElementById("follow").disabled = false;
});

document.getElementById("follow").addEventListener("click", async () => {
  const runId = window.report.done.test_run_id;
  const response = await fetch(`${base}/test-runs/${runId}/stream-token`, { method: "POST", headers });
  const grant = await response.json();
  window.report.eventsUrl = grant.events_url;
  // Not closed on `done`: after the stream ends, EventSource reconnects with Last-Event-ID and is told
  // 204 No Content, which makes it stop for good.
  const source = new EventSource(grant.events_url);
  window.report.source = source;
  for (const type of ["step", "done"]) {
    source.addEventListener(type, (event) => {
      window.report.followed.push(`${type}:${event.lastEventId}`);
      show("follow-events", `${type} ${event.lastEventId}`);
    });
  }
  source.addEventListener("error", () => {
    window.report.followState = source.readyState;
    document.getElementById("follow-result").textContent = `readyState ${source.readyState}`;
  });
});

document.getElementById("run").disabled = false;
