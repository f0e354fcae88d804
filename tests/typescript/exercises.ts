// The TypeScript lessons' exercise checks against reference solutions, and against wrong ones, on the real server
// (tests/test_typescript.py runs this with the course's settings in the environment).
import assert from "node:assert/strict";
import { EMBEDDING, letta, MODEL, textOf } from "./server.ts";
import { checkAnswerText, checkRememberFact, type Messages } from "../../notebooks/typescript/checks.ts";

// ts01, exercise
function answerText(messages: Messages): string {
  return messages.filter((m) => m.message_type === "assistant_message").map((m) => textOf(m.content)).join("\n\n");
}

// ts01, stretch exercise
async function rememberFact(agentId: string, fact: string): Promise<void> {
  const { value } = await letta.agents.blocks.retrieve("human", { agent_id: agentId });
  await letta.agents.blocks.update("human", { agent_id: agentId, value: `${value.replace(/\n*$/, "")}\n${fact}` });
}

const agent = await letta.agents.create({
  name: `t-ts-exercises-${crypto.randomUUID().slice(0, 8)}`,
  model: MODEL,
  embedding: EMBEDDING,
  memory_blocks: [{ label: "human", value: "The learner is Ola." }],
});
const on = { letta, agentId: agent.id };
try {
  await letta.agents.messages.create(agent.id, {
    messages: [{ role: "user", content: "Hi! Say hello in one sentence." }],
  });
  assert.ok((await checkAnswerText(answerText, on)).passed, "the reference answerText passes");
  const stringsOnly = (ms: Messages) =>
    ms.filter((m) => typeof m.content === "string").map((m) => m.content).join("\n\n");
  assert.ok(!(await checkAnswerText(stringsOnly, on)).passed, "one that drops array contents is caught");
  assert.ok((await checkRememberFact(rememberFact, on)).passed, "the reference rememberFact passes");
  const overwrite = async (id: string, fact: string) =>
    void (await letta.agents.blocks.update("human", { agent_id: id, value: fact }));
  assert.ok(!(await checkRememberFact(overwrite, on)).passed, "one that overwrites the block is caught");
  const stub = () => {
    throw new Error("not written yet");
  };
  assert.deepEqual(
    (await checkAnswerText(stub, on)).problems,
    ["answerText threw Error: not written yet"],
    "a stub is not yet, not a crash",
  );
  console.log("exercise checks: all as expected");
} finally {
  await letta.agents.delete(agent.id);
}
