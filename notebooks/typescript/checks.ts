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

// ---- ts02 ------------------------------------------------------------------------------------------------------
// (no new imports: the ts02 checks use only the `Letta` type imported above)

/** The rules `agents.create` and `agents.update` take (`tool_rules`): any rule the SDK knows. */
export type ToolRules = NonNullable<Letta.AgentCreateParams["tool_rules"]>;

function ruleKeys(rules: unknown): string[] {
  // one line per rule, so that two rule sets compare whatever order they come in
  if (!Array.isArray(rules)) return [];
  return rules
    .map((rule) => {
      const { type, tool_name, children } = (rule ?? {}) as { type?: string; tool_name?: string; children?: string[] };
      return `${type ?? "(no type)"} ${tool_name}${Array.isArray(children) ? ` -> ${[...children].sort().join(", ")}` : ""}`;
    })
    .sort();
}

function pipelineKeys(steps: string[]): string[] {
  const children = steps.slice(1).map((next, i) => `constrain_child_tools ${steps[i]} -> ${next}`);
  return [`run_first ${steps[0]}`, ...children, `exit_loop ${steps[steps.length - 1]}`].sort();
}

function ruleDifference(got: string[], want: string[]): string {
  const missing = want.filter((key) => !got.includes(key));
  const extra = got.filter((key) => !want.includes(key));
  return [missing.length ? `missing ${missing.join("; ")}` : "", extra.length ? `not wanted ${extra.join("; ")}` : ""]
    .filter(Boolean)
    .join(", and ");
}

function errorText(err: unknown): string {
  const e = err as Error & { status?: number }; // an APIError's message starts with its status
  return (e.status ? e.message : `${e.name}: ${e.message}`).slice(0, 300);
}

/** ts02: `rulesFor(steps)` makes the rules of a pipeline: the first step runs first, only the next step may follow
 * each one, and the last step ends the turn. The check puts the rules on an agent and reads them back. */
export async function checkRulesFor(
  rulesFor: (steps: string[]) => ToolRules,
  { letta, agentId, steps }: { letta: Letta; agentId: string; steps: string[] },
): Promise<CheckResult> {
  const problems: string[] = [];
  for (const sample of [["fetch", "check", "pack", "send"], ["solo"]]) {
    const rules = await attempt("rulesFor", () => rulesFor(sample), problems);
    if (problems.length) break;
    const keys = ruleKeys(rules);
    const wrongType = keys.filter((key) => !/^(run_first|constrain_child_tools|exit_loop) /.test(key));
    if (!Array.isArray(rules)) {
      problems.push(`rulesFor(${JSON.stringify(sample)}) returned ${JSON.stringify(rules)}, not an array of rules`);
    } else if (wrongType.length) {
      problems.push(
        `a rule's type is its wire name (run_first, constrain_child_tools, exit_loop); these are not: ${wrongType.join("; ")}`,
      );
    } else {
      const difference = ruleDifference(keys, pipelineKeys(sample));
      if (difference) problems.push(`for the pipeline ${sample.join(" → ")} the rules are ${difference}`);
    }
    if (problems.length) break;
  }
  if (problems.length) return report("", problems);
  const before = (await letta.agents.retrieve(agentId)).tool_rules ?? [];
  try {
    await letta.agents.update(agentId, { tool_rules: rulesFor(steps) });
    const held = ruleKeys((await letta.agents.retrieve(agentId)).tool_rules);
    const difference = ruleDifference(held, pipelineKeys(steps));
    if (difference) problems.push(`the agent's rules, as the server holds them, are ${difference}`);
  } catch (err) {
    problems.push(`the server refused the rules: ${errorText(err)}`);
  } finally {
    await letta.agents.update(agentId, { tool_rules: before }); // the agent's own rules again
  }
  return report(`rulesFor makes rules the server holds: ${steps.join(" → ")}, and the turn ends there`, problems);
}

const GUESTBOOK_TOOL = "ts02_sign_guestbook";

/** ts02 stretch: `guestbookSource()` returns the Python source of `ts02_sign_guestbook(name)`, which adds the line
 * "<the agent's CLUB_NAME secret>: <name>" to its own agent's `guestbook` block through the injected client. */
export async function checkGuestbookSource(
  guestbookSource: () => string,
  { letta, model, embedding, tag }: { letta: Letta; model: string; embedding: string; tag: string },
): Promise<CheckResult> {
  const problems: string[] = [];
  const source = await attempt("guestbookSource", () => guestbookSource(), problems);
  if (problems.length) return report("", problems);
  if (typeof source !== "string") return report("", [`guestbookSource returned ${typeof source}, not the tool's source as a string`]);
  const defined = /^def\s+(\w+)\s*\(/m.exec(source)?.[1];
  if (defined !== GUESTBOOK_TOOL) {
    problems.push(`the source should define \`def ${GUESTBOOK_TOOL}(name: str) -> str\` at its top level; it defines ${defined ?? "no function"}`);
  }
  if (/\bLetta\s*\(/.test(source)) problems.push("the tool builds its own Letta(...): use the `client` the server injects");
  if (problems.length) return report("", problems);

  const club = "Hilltop Chess"; // not the example's club: the name must come from the secret
  const first = "Opened on 1 December.";
  let toolId: string | undefined;
  let agentId: string | undefined;
  try {
    const tool = await letta.tools.upsert({ source_code: source, tags: [tag] });
    toolId = tool.id;
    const agent = await letta.agents.create({
      name: `ts02-guestbook-check-${crypto.randomUUID().slice(0, 8)}`,
      model,
      embedding,
      tags: [tag],
      include_base_tools: false,
      tool_ids: [tool.id],
      secrets: { CLUB_NAME: club },
      memory_blocks: [{ label: "guestbook", value: first }],
    });
    agentId = agent.id;
    for (const name of ["Ada", "Grace"]) {
      const ran = await letta.agents.tools.run(GUESTBOOK_TOOL, { agent_id: agent.id, args: { name } });
      if (ran.status !== "success") {
        const traceback = (ran.stderr ?? []).join("").trim().split("\n");
        problems.push(`run for ${name}: the tool's status was ${ran.status}: ${traceback[traceback.length - 1]}`);
        break;
      }
    }
    if (!problems.length) {
      const value = (await letta.agents.blocks.retrieve("guestbook", { agent_id: agent.id })).value;
      const lines = value.split("\n").map((line) => line.trim()).filter(Boolean);
      const want = [first, `${club}: Ada`, `${club}: Grace`];
      if (JSON.stringify(lines) !== JSON.stringify(want)) {
        problems.push(
          `after signing for Ada and then Grace the block's lines are ${JSON.stringify(lines)}, not ${JSON.stringify(want)} ` +
            `(this agent's CLUB_NAME secret is "${club}")`,
        );
      }
    }
  } catch (err) {
    problems.push(`the server refused it: ${errorText(err)}`);
  } finally {
    if (agentId) await letta.agents.delete(agentId);
    if (toolId) await letta.tools.delete(toolId);
  }
  return report("ts02_sign_guestbook signs with the club's name from the secret, through the injected client", problems);
}
