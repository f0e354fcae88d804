// ts03's exercise checks against reference solutions, and against wrong ones, on the real server
// (tests/test_typescript.py runs every tests/typescript/exercises*.ts with the course's settings in the environment).
import type Letta from "@letta-ai/letta-client";
import assert from "node:assert/strict";
import { EMBEDDING, letta, MODEL, textOf } from "./server.ts";
import {
  checkAskInConversation,
  checkCollectAnswer,
  type Chunk,
  type Decision,
} from "../../notebooks/typescript/checks.ts";

const TAG = "course-test:ts03-exercises";

// ts03, exercise
async function collectAnswer(stream: AsyncIterable<Chunk>): Promise<string> {
  const pieces = new Map<string, string>(); // a Map keeps the order the messages came in
  for await (const chunk of stream) {
    if (chunk.message_type !== "assistant_message") continue;
    const id = chunk.id ?? "";
    pieces.set(id, (pieces.get(id) ?? "") + textOf(chunk.content));
  }
  return [...pieces.values()].join("\n\n");
}

// ts03, stretch exercise (made by `asker`, so that a loop that stops too soon is one line below)
type Ask = (
  conversationId: string,
  text: string,
  decide: (call: Letta.Agents.ToolCall) => Decision | Promise<Decision>,
) => Promise<string[]>;
function asker(rounds: number): Ask {
  return async (conversationId, text, decide) => {
    const stops: string[] = [];
    let messages: NonNullable<Letta.Conversations.MessageCreateParams["messages"]> = [{ role: "user", content: text }];
    for (let round = 0; round < rounds; round++) {
      const calls: Letta.Agents.ToolCall[] = [];
      for await (const chunk of await letta.conversations.messages.create(conversationId, { messages })) {
        if (chunk.message_type === "approval_request_message" && Array.isArray(chunk.tool_calls)) {
          calls.push(...chunk.tool_calls);
        }
        if (chunk.message_type === "stop_reason") stops.push(chunk.stop_reason);
      }
      if (stops[stops.length - 1] !== "requires_approval") break;
      const approvals = [];
      for (const call of calls) {
        approvals.push({ type: "approval" as const, tool_call_id: call.tool_call_id, ...(await decide(call)) });
      }
      messages = [{ type: "approval", approvals }];
    }
    return stops;
  };
}
const askInConversation = asker(5);

const agent = await letta.agents.create({
  name: `t-ts03-exercises-${crypto.randomUUID().slice(0, 8)}`,
  model: MODEL,
  embedding: EMBEDDING,
  tags: [TAG],
  include_base_tools: false,
  memory_blocks: [{ label: "persona", value: "I answer in one short sentence." }],
});
const on = { letta, agentId: agent.id };
const fresh = { letta, model: MODEL, embedding: EMBEDDING, tag: TAG };
const stub = () => {
  throw new Error("not written yet");
};
try {
  assert.ok((await checkCollectAnswer(collectAnswer, on)).passed, "the reference collectAnswer passes");
  const everyChunk = async (stream: AsyncIterable<Chunk>) => {
    const texts = [];
    for await (const chunk of stream) if (chunk.message_type === "assistant_message") texts.push(textOf(chunk.content));
    return texts.join("\n\n"); // a blank line between the pieces of one message too
  };
  assert.ok(!(await checkCollectAnswer(everyChunk, on)).passed, "one that separates a message's pieces is caught");
  const stringsOnly = async (stream: AsyncIterable<Chunk>) => {
    let text = "";
    for await (const chunk of stream) {
      if (chunk.message_type === "assistant_message" && typeof chunk.content === "string") text += chunk.content;
    }
    return text;
  };
  assert.ok(!(await checkCollectAnswer(stringsOnly, on)).passed, "one that drops array contents is caught");
  assert.deepEqual(
    (await checkCollectAnswer(stub, on)).problems,
    ["collectAnswer threw Error: not written yet"],
    "a stub is not yet",
  );

  assert.ok((await checkAskInConversation(askInConversation, fresh)).passed, "the reference askInConversation passes");
  const sendOnly = async (conversationId: string, text: string) => {
    const stops: string[] = [];
    for await (
      const chunk of await letta.conversations.messages.create(conversationId, {
        messages: [{ role: "user", content: text }],
      })
    ) {
      if (chunk.message_type === "stop_reason") stops.push(chunk.stop_reason);
    }
    return stops;
  };
  assert.ok(!(await checkAskInConversation(sendOnly, fresh)).passed, "one that never answers is caught");
  const approveAll = (conversationId: string, text: string) =>
    askInConversation(conversationId, text, () => ({ approve: true }));
  assert.ok(!(await checkAskInConversation(approveAll, fresh)).passed, "one that ignores decide is caught");
  const answerOnce = asker(2); // answers the first request, reads the next stream, and stops there
  assert.ok(
    !(await checkAskInConversation(answerOnce, fresh)).passed,
    "one that answers only the first request is caught",
  );
  assert.deepEqual((await checkAskInConversation(stub, fresh)).problems, [
    "askInConversation threw Error: not written yet",
  ], "a stub is not yet");
  console.log("exercise checks: all as expected");
} finally {
  await letta.agents.delete(agent.id);
  for (const leftover of (await letta.agents.list({ tags: [TAG], limit: 100 })).items) {
    await letta.agents.delete(leftover.id);
  }
}
