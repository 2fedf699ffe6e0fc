// Files on a run: its inputs and what its code left in /work/outputs, each downloadable, with a preview of text,
// CSV (as a table) and images. Bytes are fetched with the session's credentials and shown from blob: URLs (an
// <a href> to the API could not carry them); nothing from a file is ever parsed as HTML.
import { ApiError, api, authHeaders, refreshTokens, session } from "./api.js";
import { el, fill, toast } from "./dom.js";

const PREVIEW_BYTES = 64 * 1024;
const PREVIEW_ROWS = 50;
const IMAGE_TYPES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]); // not SVG: it can carry script

export async function fileBytes(fileId, { range } = {}) {
  const get = () =>
    fetch(`/api/v1/files/${fileId}/content`, { headers: { ...authHeaders(), ...(range ? { Range: range } : {}) } });
  const sent = session.token;
  let response = await get();
  // An expired token, renewed meanwhile or now (once), as api() does.
  if (response.status === 401 && sent && (session.token !== sent || (await refreshTokens()))) response = await get();
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  return response.blob();
}

export async function uploadFile(file) {
  const form = new FormData();
  form.append("file", file, file.name);
  const response = await fetch("/api/v1/files", { method: "POST", headers: authHeaders(), body: form });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

export const size = (bytes) => {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB"];
  let value = bytes;
  for (const unit of units) {
    value /= 1024;
    if (value < 1024 || unit === "GB") return `${value.toFixed(1)} ${unit}`;
  }
};

async function download(file) {
  try {
    const url = URL.createObjectURL(await fileBytes(file.id));
    const link = el("a", { href: url, download: file.name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (e) {
    toast(e.message, true);
  }
}

// A CSV line split on commas, honouring double quotes: enough for a preview, not a full parser.
function csvCells(line) {
  const cells = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted && c === '"' && line[i + 1] === '"') {
      cell += '"';
      i++;
    } else if (c === '"') quoted = !quoted;
    else if (c === "," && !quoted) {
      cells.push(cell);
      cell = "";
    } else cell += c;
  }
  cells.push(cell);
  return cells;
}

function csvTable(text) {
  const lines = text.split(/\r?\n/).filter((l) => l.length > 0);
  const complete = text.length < PREVIEW_BYTES ? lines : lines.slice(0, -1); // a cut last line is left out
  const [head, ...rows] = complete.slice(0, PREVIEW_ROWS + 1);
  return el(
    "div",
    { class: "table-scroll" },
    el(
      "table",
      { class: "csv-preview" },
      head
        ? el(
            "tr",
            {},
            csvCells(head).map((h) => el("th", {}, h)),
          )
        : null,
      rows.map((r) =>
        el(
          "tr",
          {},
          csvCells(r).map((c) => el("td", {}, c)),
        ),
      ),
    ),
  );
}

async function preview(file, into) {
  try {
    if (IMAGE_TYPES.has(file.media_type)) {
      const url = URL.createObjectURL(await fileBytes(file.id));
      fill(into, el("img", { src: url, alt: file.name, class: "file-image" }));
      return;
    }
    const text = await (await fileBytes(file.id, { range: `bytes=0-${PREVIEW_BYTES - 1}` })).text();
    const cut = file.size > PREVIEW_BYTES ? el("p", { class: "muted" }, `First ${size(PREVIEW_BYTES)} shown.`) : null;
    const isCsv = file.media_type === "text/csv" || file.name.toLowerCase().endsWith(".csv");
    fill(into, isCsv ? csvTable(text) : el("pre", { class: "file-text" }, text), cut);
  } catch (e) {
    toast(e.message, true);
  }
}

const previewable = (file) =>
  IMAGE_TYPES.has(file.media_type) ||
  file.media_type.startsWith("text/") ||
  ["application/json", "application/xml", "application/x-ndjson"].includes(file.media_type);

function fileRow(file, kind) {
  const shown = el("div", { class: "file-preview" });
  return el(
    "li",
    { class: "file", "data-kind": kind, "data-name": file.name },
    el(
      "div",
      { class: "row" },
      el("span", { class: "mono" }, file.name),
      el("span", { class: "muted" }, `${size(file.size)} · ${file.media_type}`),
      el("button", { class: "download", onclick: () => download(file) }, "Download"),
      previewable(file) ? el("button", { class: "preview", onclick: () => preview(file, shown) }, "Preview") : null,
    ),
    shown,
  );
}

// The run's files card: drawn again (artifacts fetched anew) whenever the run reports one.
export async function drawRunFiles(card, run) {
  let artifacts = [];
  try {
    artifacts = (await api(`/runs/${run.id}/artifacts?limit=200`)).items;
  } catch (e) {
    toast(e.message, true);
  }
  fill(
    card,
    el("h2", {}, "Files"),
    el("h3", {}, "Inputs"),
    run.input_files.length
      ? el(
          "ul",
          { class: "files", id: "run-inputs" },
          run.input_files.map((f) => fileRow(f, "input")),
        )
      : el("p", { class: "muted" }, "None."),
    el("h3", {}, "Made by the run"),
    artifacts.length
      ? el(
          "ul",
          { class: "files", id: "run-artifacts" },
          artifacts.map((f) => fileRow(f, "output")),
        )
      : el("p", { class: "muted" }, "None yet."),
  );
}
