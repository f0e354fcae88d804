// The TypeScript lessons' exercise checks, as the Python lessons' (helpers/exercises.py): each tries your function
// on a fixed sample first, then on what the server holds, and prints either a tick or "Not yet:" with what to fix.
// It returns the same as a value; tests/typescript/exercises.ts runs the checks on the reference solutions.
import type Letta from "@letta-ai/letta-client";
import { waiting } from "./progress.ts"; // ts03's checks make agent turns: a line when each starts and ends

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
  {
    message_type: "assistant_message",
    content: [{ type: "text", text: "Chess club " }, { type: "text", text: "is on Thursday." }],
  },
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
      `on a sample turn (a string answer, a tool call, then an answer in two text parts) it returned ${
        JSON.stringify(sample)
      }, ` +
        `not "Hello!\\n\\nChess club is on Thursday."`,
    );
  }
  if (problems.length) return report("", problems);
  const history = (await letta.agents.messages.list(agentId, { limit: 50, order: "asc" })).items as Messages;
  const turn = history.slice(history.map((m) => m.message_type).lastIndexOf("user_message") + 1);
  const expected = turn.filter((m) => m.message_type === "assistant_message").map((m) => textParts(m.content)).join(
    "\n\n",
  );
  const got = await attempt("answerText", () => answerText(turn), problems);
  if (got !== undefined && got !== expected) {
    problems.push(
      `on the agent's last turn it returned ${JSON.stringify(got)}; the server stored ${JSON.stringify(expected)}`,
    );
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
  if (!after.startsWith(before)) {
    problems.push(`the block no longer starts with what it said before: ${JSON.stringify(after)}`);
  }
  const lines = after.split("\n");
  for (const fact of ["Plays the Sicilian.", "Rated 1450."]) {
    const count = lines.filter((line) => line.trim() === fact).length;
    if (count !== 1) {
      problems.push(
        `"${fact}" should be on a line of its own once; it is there ${count} times: ${JSON.stringify(after)}`,
      );
    }
  }
  if (!problems.length && after.indexOf("Plays the Sicilian.") > after.indexOf("Rated 1450.")) {
    problems.push("the facts should stay in the order they came");
  }
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
      return `${type ?? "(no type)"} ${tool_name}${
        Array.isArray(children) ? ` -> ${[...children].sort().join(", ")}` : ""
      }`;
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
        `a rule's type is its wire name (run_first, constrain_child_tools, exit_loop); these are not: ${
          wrongType.join("; ")
        }`,
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
  if (typeof source !== "string") {
    return report("", [`guestbookSource returned ${typeof source}, not the tool's source as a string`]);
  }
  const defined = /^def\s+(\w+)\s*\(/m.exec(source)?.[1];
  if (defined !== GUESTBOOK_TOOL) {
    problems.push(
      `the source should define \`def ${GUESTBOOK_TOOL}(name: str) -> str\` at its top level; it defines ${
        defined ?? "no function"
      }`,
    );
  }
  if (/\bLetta\s*\(/.test(source)) {
    problems.push("the tool builds its own Letta(...): use the `client` the server injects");
  }
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
          `after signing for Ada and then Grace the block's lines are ${JSON.stringify(lines)}, not ${
            JSON.stringify(want)
          } ` +
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
  return report(
    "ts02_sign_guestbook signs with the club's name from the secret, through the injected client",
    problems,
  );
}

// ts03 ---------------------------------------------------------------------------------------------------------------

export type Chunk = { message_type?: string; id?: string | null; content?: unknown };
export type Decision = { approve: true } | { approve: false; reason: string };

async function* replayed(chunks: Chunk[]): AsyncGenerator<Chunk> {
  for (const chunk of chunks) yield chunk;
}

// A streamed turn as `stream_tokens: true` sends it: pings, then pieces of one answer that share its id, a tool call,
// then a second answer whose content is an array of text parts, and the closing chunks.
const STREAM_SAMPLE: Chunk[] = [
  { message_type: "ping", id: "ping-1" },
  { message_type: "reasoning_message", id: "message-r" },
  { message_type: "assistant_message", id: "message-a", content: "Hello, " },
  { message_type: "assistant_message", id: "message-a", content: "Ada!" },
  { message_type: "tool_call_message", id: "message-t" },
  {
    message_type: "assistant_message",
    id: "message-b",
    content: [{ type: "text", text: "See you " }, { type: "text", text: "on Thursday." }],
  },
  { message_type: "stop_reason" },
  { message_type: "usage_statistics" },
];

/** ts03: `collectAnswer(stream)` puts a streamed answer together: pieces of a message joined, messages by a blank line. */
export async function checkCollectAnswer(
  collectAnswer: (stream: AsyncIterable<Chunk>) => Promise<string>,
  { letta, agentId }: { letta: Letta; agentId: string },
): Promise<CheckResult> {
  const problems: string[] = [];
  const sample = await attempt("collectAnswer", () => collectAnswer(replayed(STREAM_SAMPLE)), problems);
  if (sample !== undefined && sample !== "Hello, Ada!\n\nSee you on Thursday.") {
    problems.push(
      `on a sample stream (an answer in two pieces with one id, a tool call, an answer in two text parts) it returned ` +
        `${JSON.stringify(sample)}, not "Hello, Ada!\\n\\nSee you on Thursday."`,
    );
  }
  if (problems.length) return report("", problems);
  const conversation = await letta.conversations.create({ agent_id: agentId, summary: "checking collectAnswer" });
  try {
    const stream = await letta.conversations.messages.create(conversation.id, {
      messages: [{ role: "user", content: "Say hello to Ada in one short sentence." }],
      stream_tokens: true,
      include_pings: true,
    });
    // Your function reads the stream through this relay; whatever it leaves unread is read here, so the turn has
    // finished (and is stored) before the check looks at the server's record.
    const source = stream[Symbol.asyncIterator]();
    let finished = false;
    const relay: AsyncIterable<Chunk> = {
      async *[Symbol.asyncIterator]() {
        for (let next = await source.next(); !next.done; next = await source.next()) yield next.value;
        finished = true;
      },
    };
    const got = await attempt(
      "collectAnswer",
      () => waiting("a turn in a new conversation, read by collectAnswer", () => collectAnswer(relay)),
      problems,
    );
    if (!finished) {
      await waiting("the rest of that turn", async () => {
        while (!(await source.next()).done);
      });
    }
    const stored = (await letta.conversations.messages.list(conversation.id, { order: "asc", limit: 50 }))
      .items as Messages;
    const expected = stored.filter((m) => m.message_type === "assistant_message").map((m) => textParts(m.content)).join(
      "\n\n",
    );
    if (got !== undefined && got.trim() !== expected.trim()) {
      problems.push(`on a real turn it returned ${JSON.stringify(got)}; the server stored ${JSON.stringify(expected)}`);
    }
  } finally {
    await letta.delete(`/v1/conversations/${conversation.id}`); // SDK 1.7.8 has no conversations.delete (the lesson shows it)
  }
  return report("collectAnswer puts a streamed answer together, piece by piece and message by message", problems);
}

const STAMP_TOOL = "ts03_stamp_ticket";
const STAMP_SOURCE = `def ${STAMP_TOOL}(ticket_id: str) -> str:
    """Stamp a support ticket as handled.

    Args:
        ticket_id: The ticket's id, for example T-7.
    """
    return f"Ticket {ticket_id} stamped."
`;

/** ts03 stretch: `askInConversation(conversationId, text, decide)` answers every approval request of a turn in a
 * conversation, with `decide`, until the turn ends; it returns the stop reason of every round. */
export async function checkAskInConversation(
  askInConversation: (
    conversationId: string,
    text: string,
    decide: (call: Letta.Agents.ToolCall) => Decision | Promise<Decision>,
  ) => Promise<string[]>,
  { letta, model, embedding, tag }: { letta: Letta; model: string; embedding: string; tag: string },
): Promise<CheckResult> {
  const problems: string[] = [];
  const tool = await letta.tools.upsert({ source_code: STAMP_SOURCE, tags: [tag] });
  // An agent that must call the tool first, and waits for approval every time: after a refusal the server asks
  // again (its rules start afresh with every request), so a loop that answers once is caught.
  const agent = await letta.agents.create({
    name: `ts03-check-${crypto.randomUUID().slice(0, 8)}`,
    model,
    embedding,
    tags: [tag],
    include_base_tools: false,
    tool_ids: [tool.id],
    tool_rules: [
      { type: "run_first", tool_name: STAMP_TOOL },
      { type: "requires_approval", tool_name: STAMP_TOOL },
      { type: "exit_loop", tool_name: STAMP_TOOL },
    ],
  });
  try {
    const conversation = await letta.conversations.create({
      agent_id: agent.id,
      summary: "checking askInConversation",
    });
    const refusal = "Stamp it once the customer has replied.";
    const asked: Letta.Agents.ToolCall[] = [];
    const decide = (call: Letta.Agents.ToolCall): Decision => {
      asked.push(call);
      return asked.length === 1 ? { approve: false, reason: refusal } : { approve: true };
    };
    const stops = await attempt(
      "askInConversation",
      () =>
        waiting(
          "askInConversation on a fresh agent (two approval requests)",
          () => askInConversation(conversation.id, "Stamp ticket T-7 as handled.", decide),
        ),
      problems,
    );
    if (problems.length) return report("", problems);
    const stored = (await letta.conversations.messages.list(conversation.id, { order: "asc", limit: 50 })).items;
    const requested = stored.flatMap((m) =>
      m.message_type === "approval_request_message" && Array.isArray(m.tool_calls) ? m.tool_calls : []
    );
    const answers = stored.flatMap((m) => (m.message_type === "approval_response_message" ? (m.approvals ?? []) : []));
    const returns = stored.flatMap((m) => (m.message_type === "tool_return_message" ? [m] : []));
    const last = stored[stored.length - 1];
    if (!asked.length) problems.push("decide was never called: answer each approval request with what decide says");
    if (last?.message_type === "approval_request_message") {
      problems.push("the conversation still waits for an answer: loop until the stop reason is not requires_approval");
    }
    const first = answers[0];
    if (first && !("approve" in first && first.approve === false && first.reason === refusal)) {
      problems.push(
        `the first answer the server stored is ${JSON.stringify(first)}: decide refused it, with a reason to pass on`,
      );
    }
    const ids = answers.map((a) => a.tool_call_id);
    if (JSON.stringify(ids) !== JSON.stringify(requested.map((c) => c.tool_call_id))) {
      problems.push(
        `the server asked for approval ${requested.length} times and stored answers for ${JSON.stringify(ids)}: ` +
          "answer each request once, by its tool_call_id",
      );
    }
    if (!problems.length) {
      const [refused, ran] = returns;
      if (requested.length !== 2 || refused?.status !== "error" || ran?.status !== "success") {
        problems.push(
          `the tool's returns were ${
            JSON.stringify(returns.map((r) => [r.status, r.tool_return]))
          }: one refused, then one run`,
        );
      }
      const want = [...requested.map(() => "requires_approval"), "tool_rule"];
      if (JSON.stringify(stops) !== JSON.stringify(want)) {
        problems.push(`it returned ${JSON.stringify(stops)}; the streams' stop reasons were ${JSON.stringify(want)}`);
      }
    }
  } finally {
    await letta.agents.delete(agent.id); // its conversation goes with it
    await letta.tools.delete(tool.id);
  }
  return report(
    "askInConversation answers every request, refusals included, until the conversation's turn ends",
    problems,
  );
}
