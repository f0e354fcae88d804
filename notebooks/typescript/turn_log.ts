// The TypeScript half of helpers/turn_log.py: when COURSE_TURN_LOG names a file (the course runner sets it for
// each lesson), every POST .../messages appends one JSON line, with its seconds and the server's token usage, once
// its response has been read to the end. Importing this module wraps `fetch` (the SDK takes the global one when a
// client is made), so the lessons' code is unchanged; without the variable, nothing is wrapped.
const TURN_PATH = /\/v1\/(agents|conversations)\/[^/]+\/messages(\/stream)?\/?$/;

type Usage = { prompt_tokens?: number; completion_tokens?: number; step_count?: number };

function usageOf(body: string, contentType: string): Usage {
  if (contentType.includes("json")) {
    try {
      return JSON.parse(body).usage ?? {};
    } catch {
      return {}; // an error's body: no usage, so no tokens
    }
  }
  let usage: Usage = {};
  for (const line of body.split("\n")) {
    if (line.startsWith("data: ") && line.includes('"usage_statistics"')) {
      try {
        usage = JSON.parse(line.slice(6));
      } catch {
        continue;
      }
    }
  }
  return usage;
}

async function record(
  log: string,
  path: string,
  response: Response,
  body: ReadableStream<Uint8Array>,
  started: number,
) {
  const text = await new Response(body).text();
  const usage = usageOf(text, response.headers.get("content-type") ?? "");
  const line = {
    path,
    status: response.status,
    seconds: Math.round(performance.now() - started) / 1000,
    prompt_tokens: usage.prompt_tokens ?? 0,
    completion_tokens: usage.completion_tokens ?? 0,
    steps: usage.step_count ?? 0,
  };
  await Deno.writeTextFile(log, JSON.stringify(line) + "\n", { append: true });
}

const log = Deno.env.get("COURSE_TURN_LOG");
if (log && !(globalThis.fetch as { courseTurnLog?: boolean }).courseTurnLog) {
  const plain = globalThis.fetch;
  const logged = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const path = new URL(request.url).pathname;
    const started = performance.now();
    const response = await plain(request);
    if (request.method !== "POST" || !TURN_PATH.test(path) || !response.body) return response;
    const [mine, theirs] = response.body.tee(); // the lesson reads one copy at its pace; the log reads the other
    record(log, path, response, mine, started).catch((err) => console.error("turn log:", err));
    return new Response(theirs, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
  globalThis.fetch = Object.assign(logged, { courseTurnLog: true });
}
