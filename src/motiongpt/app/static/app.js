// The page: loads example prompts and the skeleton from /api/info, posts the form to /api/generate and shows one
// card per result (3D player + download links). Errors from the API are shown as one line under the form.
"use strict";

(function () {
  const MAX_CARDS = 12;
  const form = document.getElementById("generate-form");
  const button = document.getElementById("generate");
  const message = document.getElementById("message");
  const results = document.getElementById("results");
  const template = document.getElementById("result-template");
  let info = null;

  function say(text, kind) {
    message.textContent = text;
    message.className = kind || "";
  }

  async function readJson(response) {
    try { return await response.json(); } catch (err) { return {}; }
  }

  async function loadInfo() {
    const response = await fetch("/api/info");
    if (!response.ok) throw new Error(`the server answered ${response.status} to /api/info`);
    info = await response.json();
    for (const node of document.querySelectorAll(".codebook-max")) node.textContent = String(info.codebook_size - 1);
    document.getElementById("num_samples").max = String(info.max_samples);
    const box = document.getElementById("examples");
    for (const text of info.examples) {
      const chip = document.createElement("button");
      chip.type = "button";
      chip.textContent = text;
      chip.addEventListener("click", () => { document.getElementById("text").value = text; });
      box.appendChild(chip);
    }
  }

  function addCard(result) {
    const card = template.content.firstElementChild.cloneNode(true);
    card.dataset.id = result.id;
    card.querySelector(".caption").textContent = result.caption;
    if (result.matched_caption) {
      card.querySelector(".matched").textContent = `read as the training caption “${result.matched_caption}”`;
    }
    if (result.warning) {
      card.querySelector(".warning").textContent = result.warning;
    }
    if (result.check_note) {
      card.querySelector(".matched").textContent += ` · ${result.check_note}`;
    }
    const seconds = (result.frames / result.fps).toFixed(1);
    card.querySelector(".meta").textContent =
      `seed ${result.seed} · ${result.frames} frames (${seconds} s) · ${result.codes.length} codes: ${result.codes.join(",")}`;
    for (const [kind, url] of Object.entries(result.files)) {
      const link = card.querySelector(`a.${kind}`);
      if (link) link.href = url;
    }
    results.prepend(card);
    card.viewer = new window.MotionViewer(card.querySelector("canvas"), result, info.skeleton, {
      play: card.querySelector(".play"), timeline: card.querySelector(".timeline"),
      label: card.querySelector(".frame"),
    });
  }

  form.addEventListener("submit", async event => {
    event.preventDefault();
    button.disabled = true;
    say("Generating…", "busy");
    try {
      const response = await fetch("/api/generate", { method: "POST", body: new FormData(form) });
      const body = await readJson(response);
      if (!response.ok) {
        say(body.error || `the server answered ${response.status}`, "error");
        return;
      }
      body.results.slice().reverse().forEach(addCard);
      while (results.children.length > MAX_CARDS) {
        const old = results.lastElementChild;
        if (old.viewer) old.viewer.destroy();
        old.remove();
      }
      const n = body.results.length;
      say(`Generated ${n} motion${n === 1 ? "" : "s"} in ${body.elapsed_s.toFixed(2)} s.`);
    } catch (err) {
      say(`Could not reach the server: ${err.message}`, "error");
    } finally {
      button.disabled = false;
    }
  });

  loadInfo().catch(err => say(`Could not load the model info: ${err.message}`, "error"));
})();
