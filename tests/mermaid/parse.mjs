// Parses Mermaid diagrams with the mermaid library itself: reads a JSON list of diagram texts on stdin and
// prints, per diagram, {ok, type} or {ok: false, error}. mermaid needs a DOM to load, which jsdom provides.
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");

let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const text of JSON.parse(input)) {
  try {
    results.push({ ok: true, type: (await mermaid.parse(text)).diagramType });
  } catch (err) {
    results.push({ ok: false, error: String(err?.message ?? err) });
  }
}
process.stdout.write(JSON.stringify(results));
