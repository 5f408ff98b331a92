// esb S3 console: plain JavaScript, no external resources.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { bucket: "", prefix: "", next: "" };

function status(msg, isError) {
  const el = $("status");
  el.textContent = msg || "";
  el.className = isError ? "error" : "";
}

async function api(method, path, body, headers) {
  const opts = { method, headers: Object.assign({ "X-Esb-Console": "1" }, headers || {}), credentials: "same-origin" };
  if (body !== undefined) {
    if (body instanceof Blob) {
      opts.body = body;
    } else {
      opts.body = JSON.stringify(body);
      opts.headers["Content-Type"] = "application/json";
    }
  }
  const res = await fetch(path, opts);
  const data = await res.json().catch(() => ({}));
  if (res.status === 401 && path !== "/api/login") {
    show("login");
  }
  if (!res.ok) {
    throw new Error(data.error || res.status + " " + res.statusText);
  }
  return data;
}

function show(view) {
  for (const v of ["login", "buckets", "objects"]) {
    $(v + "-view").hidden = v !== view;
  }
  $("logout").hidden = view === "login";
}

function humanSize(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

function q(params) {
  return new URLSearchParams(params).toString();
}

async function loadBuckets() {
  const data = await api("GET", "/api/buckets");
  const list = $("bucket-list");
  list.replaceChildren();
  for (const b of data.buckets) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = "#";
    a.textContent = b.name;
    a.dataset.bucket = b.name;
    a.className = "bucket-link";
    a.addEventListener("click", (e) => { e.preventDefault(); openBucket(b.name, ""); });
    li.append(a);
    list.append(li);
  }
  if (data.buckets.length === 0) {
    const li = document.createElement("li");
    li.textContent = "No buckets yet.";
    list.append(li);
  }
  show("buckets");
}

async function openBucket(bucket, prefix) {
  state.bucket = bucket;
  state.prefix = prefix;
  state.next = "";
  $("object-list").replaceChildren();
  $("presigned").hidden = true;
  $("crumbs").textContent = bucket + "/" + prefix;
  show("objects");
  await loadObjects();
}

function button(label, cls, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  if (cls) b.className = cls;
  b.addEventListener("click", onClick);
  return b;
}

async function loadObjects() {
  const params = { bucket: state.bucket, prefix: state.prefix };
  if (state.next) params.token = state.next;
  const data = await api("GET", "/api/objects?" + q(params));
  const tbody = $("object-list");
  if (state.prefix && !state.next) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    const a = document.createElement("a");
    a.href = "#";
    a.textContent = "..";
    const parent = state.prefix.replace(/[^/]*\/$/, "");
    a.addEventListener("click", (e) => { e.preventDefault(); openBucket(state.bucket, parent); });
    td.append(a);
    tr.append(td, document.createElement("td"), document.createElement("td"), document.createElement("td"));
    tbody.append(tr);
  }
  for (const p of data.prefixes) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    const a = document.createElement("a");
    a.href = "#";
    a.textContent = p.slice(state.prefix.length);
    a.addEventListener("click", (e) => { e.preventDefault(); openBucket(state.bucket, p); });
    td.append(a);
    tr.append(td, document.createElement("td"), document.createElement("td"), document.createElement("td"));
    tbody.append(tr);
  }
  for (const o of data.objects) {
    const tr = document.createElement("tr");
    tr.dataset.key = o.key;
    const name = document.createElement("td");
    name.textContent = o.key.slice(state.prefix.length);
    const size = document.createElement("td");
    size.textContent = humanSize(o.size);
    const when = document.createElement("td");
    when.textContent = new Date(o.lastModified).toLocaleString();
    const actions = document.createElement("td");
    actions.className = "actions";
    const dl = document.createElement("a");
    dl.href = "/api/object?" + q({ bucket: state.bucket, key: o.key });
    dl.textContent = "Download";
    dl.className = "download";
    dl.setAttribute("download", o.key.split("/").pop());
    actions.append(
      dl,
      button("Link", "secondary presign", () => presign(o.key)),
      button("Delete", "danger delete", () => removeObject(o.key)),
    );
    tr.append(name, size, when, actions);
    tbody.append(tr);
  }
  state.next = data.next || "";
  $("more").hidden = !state.next;
}

async function presign(key) {
  const data = await api("POST", "/api/presign", { bucket: state.bucket, key, seconds: 3600 });
  $("presigned").hidden = false;
  $("presigned-url").value = data.url;
  $("presigned-url").select();
  status("Presigned link for " + key + " is valid for one hour.");
}

async function removeObject(key) {
  if (!confirm("Delete " + key + "?")) return;
  await api("DELETE", "/api/object?" + q({ bucket: state.bucket, key }));
  status("Deleted " + key + ".");
  await openBucket(state.bucket, state.prefix);
}

function guard(fn) {
  return async (e) => {
    if (e && e.preventDefault) e.preventDefault();
    try {
      await fn(e);
    } catch (err) {
      status(err.message, true);
    }
  };
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", guard(async () => {
    await api("POST", "/api/login", { accessKey: $("access-key").value, secretKey: $("secret-key").value });
    $("secret-key").value = "";
    status("");
    await loadBuckets();
  }));
  $("logout").addEventListener("click", guard(async () => {
    await api("POST", "/api/logout");
    show("login");
  }));
  $("create-bucket-form").addEventListener("submit", guard(async () => {
    const name = $("new-bucket").value;
    await api("POST", "/api/buckets", { name });
    $("new-bucket").value = "";
    status("Created bucket " + name + ".");
    await loadBuckets();
  }));
  $("back-to-buckets").addEventListener("click", guard(loadBuckets));
  $("more").addEventListener("click", guard(loadObjects));
  $("upload-form").addEventListener("submit", guard(async () => {
    const file = $("upload-file").files[0];
    if (!file) return;
    const key = state.prefix + file.name;
    status("Uploading " + key + "…");
    await api("PUT", "/api/object?" + q({ bucket: state.bucket, key }), file, { "Content-Type": file.type || "application/octet-stream" });
    $("upload-file").value = "";
    status("Uploaded " + key + ".");
    await openBucket(state.bucket, state.prefix);
  }));
  // A session cookie from an earlier visit skips the sign-in form.
  loadBuckets().catch(() => show("login"));
});
