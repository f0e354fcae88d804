// What every exercise script needs: a client for the course's server and the models, from the settings
// tests/test_typescript.py puts in the environment, and the text of a message's content.
import Letta from "@letta-ai/letta-client";

export const letta = new Letta({
  baseURL: Deno.env.get("LETTA_BASE_URL"),
  apiKey: Deno.env.get("LETTA_API_KEY") ?? null,
  timeout: 600_000,
});
export const MODEL = Deno.env.get("LETTA_MODEL")!;
export const EMBEDDING = Deno.env.get("LETTA_EMBEDDING")!;

/** A message's content as text: a string, or an array of parts whose text is joined. */
export function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  return Array.isArray(content) ? content.map((part) => (part as { text?: string }).text ?? "").join("") : "";
}
