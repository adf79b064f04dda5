// The page: one streamed request per run (POST /v1/images/generations, stream: true),
// read as server-sent events from fetch's body (EventSource can only GET).
"use strict";

const PRESETS = [["square", 256, 256], ["3:2", 384, 256], ["2:3", 256, 384], ["2:1", 512, 256], ["1:2", 256, 512]];
const HISTORY_KEY = "blueprint.history";
const HISTORY_MAX = 24;
const PLAN_STRENGTH = 100;  // "plan the layout first": the AR stage copies the planner's plan
const $ = (id) => document.getElementById(id);

function buildSizes() {
  PRESETS.forEach(([name, w, h], i) => {
    const label = document.createElement("label");
    label.className = "inline";
    label.innerHTML = `<input type="radio" name="size" value="${w}x${h}" ${i ? "" : "checked"}> ${name} <small>${w}×${h}</small>`;
    $("sizes").appendChild(label);
  });
}

async function pollHealth() {
  try {
    const r = await fetch("/health");
    const body = await r.json();
    $("status").textContent = body.status === "ready" ? `ready · ${body.model}` : body.status + "…";
    $("status").className = "status " + body.status;
    if (body.status === "ready") return;
  } catch (e) {
    $("status").textContent = "server unreachable";
  }
  setTimeout(pollHealth, 2000);
}

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("api-key").value.trim() || localStorage.getItem("blueprint.key") || "";
  if (key) { h["Authorization"] = "Bearer " + key; localStorage.setItem("blueprint.key", key); }
  return h;
}

function setProgress(fraction, text) {
  $("bar-fill").style.width = Math.round(100 * fraction) + "%";
  $("stage").textContent = text;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

// Yields {event, data} for each server-sent event of a fetch response.
async function* readEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data) yield { event, data };
    }
  }
}

// The request of the form; `plan` (text) follows that layout plan at the seed shown.
function requestBody(plan) {
  const seedField = $("seed");
  const body = {
    prompt: $("prompt").value.trim(), size: document.querySelector("input[name=size]:checked").value,
    num_inference_steps: Number($("steps").value), guidance_scale: Number($("guidance").value),
    // partial image 0 is the AR blueprint; 1 and 2 the image part-way through the denoising
    stream: true, partial_images: 3, return_blueprint: true, response_format: "b64_json",
  };
  if (!$("random-seed").checked && seedField.value !== "") body.seed = Number(seedField.value);
  if (plan !== null) {
    body.plan = plan;
    if (seedField.value !== "") body.seed = Number(seedField.value);  // same seed: only the plan changes
  } else if ($("use-plan").checked) {
    body.layout_plan = PLAN_STRENGTH;
  }
  return body;
}

async function generate(ev) {
  ev.preventDefault();
  if (!$("prompt").value.trim()) return;
  await run(requestBody(null));
}

async function replan() {
  if (!$("prompt").value.trim() || !$("plan").value.trim()) return;
  await run(requestBody($("plan").value));
}

async function run(body) {
  $("go").disabled = true;
  $("replan").disabled = true;
  $("run").hidden = false;
  $("error").hidden = true;
  $("download").hidden = true;
  $("result").removeAttribute("src");
  $("result").classList.remove("partial");
  $("blueprint").removeAttribute("src");
  $("caption").textContent = "";
  setProgress(0, "queued");
  try {
    const response = await fetch("/v1/images/generations", { method: "POST", headers: headers(), body: JSON.stringify(body) });
    if (!response.ok) {
      const err = await response.json().catch(() => ({}));
      throw new Error((err.error && err.error.message) || response.statusText);
    }
    for await (const { event, data } of readEvents(response)) {
      if (data === "[DONE]") break;
      const msg = JSON.parse(data);
      if (event === "progress") {
        const what = msg.stage === "prior" ? "AR blueprint: token" : "denoising: step";
        setProgress(msg.progress, `${what} ${msg.step} / ${msg.total}`);
      } else if (event === "image_generation.partial_image") {
        const target = msg.partial_image_index === 0 ? $("blueprint") : $("result");
        target.src = "data:image/png;base64," + msg.b64_json;
        if (target === $("result")) target.classList.add("partial");
      } else if (event === "image_generation.completed") {
        showResult(body, msg);
      } else if (event === "error") {
        throw new Error(msg.error.message);
      }
    }
  } catch (e) {
    showError(e.message);
  } finally {
    $("go").disabled = false;
    $("replan").disabled = false;
  }
}

function showResult(request, item) {
  const src = "data:image/png;base64," + item.b64_json;
  $("result").src = src;
  $("result").classList.remove("partial");
  if (item.blueprint) $("blueprint").src = "data:image/png;base64," + item.blueprint.b64_png;
  $("plan").value = item.blueprint && item.blueprint.plan ? item.blueprint.plan.split(" ; ").join("\n") : "";
  $("plan-box").hidden = !$("plan").value;
  $("seed").value = item.seed;
  $("caption").textContent = `seed ${item.seed} · ${item.size} · ${request.num_inference_steps} steps · guidance ${request.guidance_scale}`;
  $("download").href = src;
  $("download").download = `blueprint-${item.seed}.png`;
  $("download").hidden = false;
  setProgress(1, "done");
  remember({ prompt: request.prompt, seed: item.seed, size: item.size, steps: request.num_inference_steps,
             guidance: request.guidance_scale, image: src,
             blueprint: item.blueprint ? "data:image/png;base64," + item.blueprint.b64_png : null, at: Date.now() });
}

function loadHistory() {
  try { return JSON.parse(localStorage.getItem(HISTORY_KEY)) || []; } catch (e) { return []; }
}

function remember(entry) {
  const items = [entry, ...loadHistory()].slice(0, HISTORY_MAX);
  // localStorage holds a few MB: drop the oldest images until the list fits
  while (items.length) {
    try { localStorage.setItem(HISTORY_KEY, JSON.stringify(items)); break; } catch (e) { items.pop(); }
  }
  renderHistory();
}

function renderHistory() {
  const list = $("history");
  list.innerHTML = "";
  for (const item of loadHistory()) {
    const li = document.createElement("li");
    const img = document.createElement("img");
    img.src = item.image;
    img.alt = item.prompt;
    li.append(img, document.createTextNode(`${item.prompt.slice(0, 60)} · seed ${item.seed}`));
    li.title = "show again and reuse its settings";
    li.onclick = () => {
      $("prompt").value = item.prompt;
      $("seed").value = item.seed;
      $("random-seed").checked = false;
      $("steps").value = item.steps;
      $("guidance").value = item.guidance;
      const radio = document.querySelector(`input[name=size][value="${item.size}"]`);
      if (radio) radio.checked = true;
      $("run").hidden = false;
      $("result").src = item.image;
      if (item.blueprint) $("blueprint").src = item.blueprint;
      $("caption").textContent = `seed ${item.seed} · ${item.size}`;
    };
    list.appendChild(li);
  }
}

buildSizes();
renderHistory();
pollHealth();
$("form").addEventListener("submit", generate);
$("replan").addEventListener("click", replan);
$("clear").addEventListener("click", () => { localStorage.removeItem(HISTORY_KEY); renderHistory(); });
$("seed").addEventListener("input", () => { $("random-seed").checked = $("seed").value === ""; });
