// Glue for bench/client.py: streams one answer into #answer with one of three
// peers, one arrival per macrotask, and times every arrival.
//
//   ours    static/stream.js: createAnswer(root).apply(kind, html) for the ops
//           MarkdownStream emitted at each token (most tokens emit none)
//   smd     streaming-markdown: parser_write(token), parser_end at the end
//   marked  marked.parse(whole buffer) -> DOMPurify.sanitize -> innerHTML
//
// Arrival i (0 <= i < N) is token i; arrival N is the end of the stream
// (ours: the ops of close(); smd: parser_end; marked: nothing left to do).
// Each arrival is its own task (MessageChannel; setTimeout would clamp to
// 4 ms) and ends with a forced layout (root.offsetHeight), so every arrival
// pays for style and layout of what it changed, as it would if each were
// shown in its own frame; paint follows at the browser's own frame rate.

import { createAnswer, parseFragment } from "/static/stream.js";
import * as smd from "/bench/.cache/node_modules/streaming-markdown/smd.js";
import { marked } from "/bench/.cache/node_modules/marked/lib/marked.esm.js";
import DOMPurify from "/bench/.cache/node_modules/dompurify/dist/purify.es.mjs";

const data = await (await fetch("/bench/client/data.json", { cache: "no-store" })).json();
const N = data.tokens.length;

// Lay the final answer out once and throw it away, so that no peer pays for
// the page's first layouts (fonts, caches) inside its run.
{
  const scratch = document.createElement("div");
  scratch.innerHTML = data.final_html;
  document.getElementById("answer").append(scratch);
  void scratch.offsetHeight;
  scratch.remove();
}

const frames = (count) =>
  new Promise((resolve) => {
    const step = () => (--count <= 0 ? resolve() : requestAnimationFrame(step));
    requestAnimationFrame(step);
  });

/** Style and layout of the page now (named so that CPU profiles show it). */
function forceLayout(root) {
  return root.offsetHeight;
}

/** The per-arrival function of one peer, writing into root. */
function makePeer(name, root, kinds) {
  if (name === "ours") {
    const answer = createAnswer(root);
    return (i) => {
      for (const [kind, html] of i < N ? data.steps[i] : data.end) {
        const t0 = performance.now();
        answer.apply(kind, html);
        const dt = performance.now() - t0;
        const k = (kinds[kind] ??= { count: 0, ms: 0, max: 0, bytes: 0 });
        k.count += 1;
        k.ms += dt;
        k.bytes += html.length;
        k.max = Math.max(k.max, dt);
      }
    };
  }
  if (name === "smd") {
    const parser = smd.parser(smd.default_renderer(root));
    return (i) => (i < N ? smd.parser_write(parser, data.tokens[i]) : smd.parser_end(parser));
  }
  if (name === "marked") {
    let buffer = "";
    return (i) => {
      if (i === N) return;
      buffer += data.tokens[i];
      root.innerHTML = DOMPurify.sanitize(marked.parse(buffer));
    };
  }
  throw new Error(`unknown peer ${name}`);
}

/** Stream the whole answer with one peer; resolves with its timings. */
async function run(name) {
  const root = document.getElementById("answer");
  root.replaceChildren();
  await frames(2);
  const longtasks = [];
  const observer = new PerformanceObserver((list) => longtasks.push(...list.getEntries()));
  observer.observe({ type: "longtask" });
  const kinds = {};
  const arrive = makePeer(name, root, kinds);
  const work = new Float64Array(N + 1);
  const layout = new Float64Array(N + 1);
  const started = performance.now();
  await new Promise((resolve, reject) => {
    const channel = new MessageChannel();
    let i = 0;
    channel.port1.onmessage = () => {
      try {
        const t0 = performance.now();
        arrive(i);
        const t1 = performance.now();
        forceLayout(root); // style + layout now, inside this arrival's task
        const t2 = performance.now();
        work[i] = t1 - t0;
        layout[i] = t2 - t1;
      } catch (error) {
        channel.port1.close();
        reject(error);
        return;
      }
      if (++i <= N) channel.port2.postMessage(0);
      else {
        channel.port1.close();
        resolve();
      }
    };
    channel.port2.postMessage(0);
  });
  const wall = performance.now() - started;
  await frames(2); // the last paint, and the observer's last callback
  longtasks.push(...observer.takeRecords());
  observer.disconnect();

  const total = Array.from(work, (w, i) => w + layout[i]);
  const order = total.map((_, i) => i).sort((a, b) => total[b] - total[a]);
  const sorted = [...total].sort((a, b) => a - b);
  const describe = (i) => {
    const ops = name === "ours" ? (i < N ? data.steps[i] : data.end).map(([k, h]) => `${k}:${h.length}`) : [];
    return { index: i, ms: total[i], work: work[i], layout: layout[i], ops: ops.join(" ") };
  };
  const reference = document.createElement("template");
  reference.innerHTML = data.final_html;
  return {
    arrivals: N + 1,
    wall,
    work: work.reduce((a, b) => a + b, 0),
    layout: layout.reduce((a, b) => a + b, 0),
    max: sorted[sorted.length - 1],
    p99: sorted[Math.floor(0.99 * (sorted.length - 1))],
    over16: total.filter((t) => t > 16).length,
    slowest: order.slice(0, 5).map(describe),
    longtasks: longtasks.map((e) => ({ start: e.startTime, duration: e.duration })),
    kinds,
    text: root.textContent.length,
    textExpected: reference.content.textContent.length,
    textSame: root.textContent === reference.content.textContent,
    nodes: root.getElementsByTagName("*").length,
  };
}

/**
 * Ours, taken apart at the arrival carrying the largest op, `reps` times:
 * replay every op before it, then time that arrival's ops one by one, each
 * followed by a forced layout; and the pieces of parseFragment for the
 * largest op (template parse alone, whole parseFragment). Minimum of reps.
 */
async function dissect(reps = 5) {
  const root = document.getElementById("answer");
  const size = (i) => Math.max(0, ...(i < N ? data.steps[i] : data.end).map(([, html]) => html.length));
  let at = 0;
  for (let i = 1; i <= N; i++) if (size(i) > size(at)) at = i;
  const ops = at < N ? data.steps[at] : data.end;
  const big = ops.reduce((a, b) => (b[1].length > a[1].length ? b : a))[1];
  const timed = (f) => {
    const t0 = performance.now();
    f();
    return performance.now() - t0;
  };
  const best = { templateParse: Infinity, parseFragment: Infinity };
  const steps = ops.map(([kind, html]) => ({ op: `${kind}:${html.length}`, apply: Infinity, layout: Infinity }));
  let elements = 0;
  for (let rep = 0; rep < reps; rep++) {
    const template = document.createElement("template");
    best.templateParse = Math.min(best.templateParse, timed(() => (template.innerHTML = big)));
    elements = template.content.querySelectorAll("*").length;
    best.parseFragment = Math.min(best.parseFragment, timed(() => parseFragment(big)));
    root.replaceChildren();
    const answer = createAnswer(root);
    for (let i = 0; i < at; i++) for (const [kind, html] of data.steps[i]) answer.apply(kind, html);
    forceLayout(root);
    await frames(2);
    ops.forEach(([kind, html], index) => {
      steps[index].apply = Math.min(steps[index].apply, timed(() => answer.apply(kind, html)));
      steps[index].layout = Math.min(steps[index].layout, timed(() => forceLayout(root)));
    });
  }
  return { arrival: at, bytes: big.length, elements, ...best, steps };
}

window.bench = { run, dissect, ready: true, tokens: N };
