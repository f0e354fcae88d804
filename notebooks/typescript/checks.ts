// The TypeScript lessons' exercise checks, as the Python lessons' (helpers/exercises.py): each tries your function
// on a fixed sample first, then on what the server holds, and prints either a tick or "Not yet:" with what to fix.
// It returns the same as a value; tests/typescript/exercises.ts runs the checks on the reference solutions.
import type Letta from "@letta-ai/letta-client";

export type Messages = Array<{ message_type?: string; content?: unknown }>;
export type CheckResult = { passed: boolean; problems: string[] };

function report(praise: string, problems: string[]): CheckResult {
  console.log(problems.length ? "Not yet:\n" + problems.map((p) => `  - ${p}`).join("\n") : `✓ ${praise}`);
  return { passed: problems.length === 0, problems };
}

async function attempt<T>(name: string, run: () => T | Promise<T>, problems: string[]): Promise<T | undefined> {
  try {
    return await run();
  } catch (err) {
    problems.push(`${name} threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    return undefined;
  }
}

function textParts(content: unknown): string {
  if (typeof content === "string") return content;
  return Array.isArray(content) ? content.map((part) => (part as { text?: string }).text ?? "").join("") : "";
}

const SAMPLE: Messages = [
  { message_type: "reasoning_message" },
  { message_type: "assistant_message", content: "Hello!" },
  { message_type: "tool_call_message" },
  { message_type: "assistant_message", content: [{ type: "text", text: "Chess club " }, { type: "text", text: "is on Thursday." }] },
];

/** ts01: `answerText(messages)` joins every assistant message's text, in order, with a blank line. */
export async function checkAnswerText(
  answerText: (messages: Messages) => string,
  { letta, agentId }: { letta: Letta; agentId: string },
): Promise<CheckResult> {
  const problems: string[] = [];
  const sample = await attempt("answerText", () => answerText(SAMPLE), problems);
  if (sample !== undefined && sample !== "Hello!\n\nChess club is on Thursday.") {
    problems.push(
      `on a sample turn (a string answer, a tool call, then an answer in two text parts) it returned ${JSON.stringify(sample)}, ` +
        `not "Hello!\\n\\nChess club is on Thursday."`,
    );
  }
  if (problems.length) return report("", problems);
  const history = (await letta.agents.messages.list(agentId, { limit: 50, order: "asc" })).items as Messages;
  const turn = history.slice(history.map((m) => m.message_type).lastIndexOf("user_message") + 1);
  const expected = turn.filter((m) => m.message_type === "assistant_message").map((m) => textParts(m.content)).join("\n\n");
  const got = await attempt("answerText", () => answerText(turn), problems);
  if (got !== undefined && got !== expected) {
    problems.push(`on the agent's last turn it returned ${JSON.stringify(got)}; the server stored ${JSON.stringify(expected)}`);
  }
  return report("answerText joins the answers of a turn, whatever shape their content has", problems);
}

/** ts01 stretch: `rememberFact(agentId, fact)` appends a line to the agent's `human` block and keeps the rest. */
export async function checkRememberFact(
  rememberFact: (agentId: string, fact: string) => Promise<void>,
  { letta, agentId }: { letta: Letta; agentId: string },
): Promise<CheckResult> {
  const problems: string[] = [];
  const before = (await letta.agents.blocks.retrieve("human", { agent_id: agentId })).value;
  for (const fact of ["Plays the Sicilian.", "Rated 1450."]) {
    if (!problems.length) await attempt("rememberFact", () => rememberFact(agentId, fact), problems);
  }
  const after = (await letta.agents.blocks.retrieve("human", { agent_id: agentId })).value;
  await letta.agents.blocks.update("human", { agent_id: agentId, value: before }); // as it was, for the next try
  if (problems.length) return report("", problems);
  if (!after.startsWith(before)) problems.push(`the block no longer starts with what it said before: ${JSON.stringify(after)}`);
  const lines = after.split("\n");
  for (const fact of ["Plays the Sicilian.", "Rated 1450."]) {
    const count = lines.filter((line) => line.trim() === fact).length;
    if (count !== 1) problems.push(`"${fact}" should be on a line of its own once; it is there ${count} times: ${JSON.stringify(after)}`);
  }
  if (!problems.length && after.indexOf("Plays the Sicilian.") > after.indexOf("Rated 1450.")) problems.push("the facts should stay in the order they came");
  return report("rememberFact adds each fact on a line of its own and keeps what the block said", problems);
}
