// ts02's exercise checks against reference solutions, and against wrong ones, on the real server
// (tests/test_typescript.py runs this with the course's settings in the environment, as it
// runs exercises.ts for ts01).
import assert from "node:assert/strict";
import { EMBEDDING, letta, MODEL } from "./server.ts";
import { checkGuestbookSource, checkRulesFor, type ToolRules } from "../../notebooks/typescript/checks.ts";

const TAG = "course-test:ts02-exercises";

// ts02, exercise
function rulesFor(steps: string[]): ToolRules {
  return [
    { type: "run_first", tool_name: steps[0] },
    ...steps.slice(1).map((next, i) => ({
      type: "constrain_child_tools" as const,
      tool_name: steps[i],
      children: [next],
    })),
    { type: "exit_loop", tool_name: steps[steps.length - 1] },
  ];
}

// ts02, stretch exercise
function guestbookSource(): string {
  return String.raw`
def ts02_sign_guestbook(name: str) -> str:
    """Sign the club's guestbook for a visitor.

    Args:
        name: The visitor's name.
    """
    import os

    agent_id = os.getenv("LETTA_AGENT_ID")
    line = f"{os.getenv('CLUB_NAME')}: {name}"
    value = client.agents.blocks.retrieve("guestbook", agent_id=agent_id).value  # noqa: F821 (injected)
    client.agents.blocks.update("guestbook", agent_id=agent_id, value=f"{value.rstrip()}\n{line}".lstrip())  # noqa: F821
    return f"Signed: {line}"
`;
}

// Wrong ones, each a mistake the lesson warns about
const CLASS_NAMES: Record<string, string> = {
  run_first: "InitToolRule",
  constrain_child_tools: "ChildToolRule",
  exit_loop: "TerminalToolRule",
};
const classNames = (steps: string[]) =>
  rulesFor(steps).map((rule) => ({ ...rule, type: CLASS_NAMES[rule.type ?? ""] })) as unknown as ToolRules;
const noTypes = (steps: string[]) => rulesFor(steps).map(({ type: _type, ...rest }) => rest) as ToolRules;
const noExit = (steps: string[]) => rulesFor(steps).filter((rule) => rule.type !== "exit_loop");
const anyLaterStep = (steps: string[]): ToolRules => [
  { type: "run_first", tool_name: steps[0] },
  ...steps.slice(0, -1).map((step, i) => ({
    type: "constrain_child_tools" as const,
    tool_name: step,
    children: steps.slice(i + 1),
  })),
  { type: "exit_loop", tool_name: steps[steps.length - 1] },
];
const overwrites = () => guestbookSource().replace(`f"{value.rstrip()}\\n{line}".lstrip()`, "line");
const hardCoded = () => guestbookSource().replace(`{os.getenv('CLUB_NAME')}`, "Riverside Chess");
const tsShaped = () =>
  guestbookSource().replace(
    `retrieve("guestbook", agent_id=agent_id)`,
    `retrieve("guestbook", {"agent_id": agent_id})`,
  );
const ownClient = () =>
  guestbookSource().replace(
    "    import os\n",
    `    import os\n    from letta_client import Letta\n    client = Letta(base_url="http://localhost:8283")\n`,
  );
const cookedNewline = () => guestbookSource().replace(`\\n{line}`, "\n{line}"); // what a plain template literal sends
const stub = () => {
  throw new Error("not written yet");
};

for (const stale of (await letta.agents.list({ tags: [TAG], limit: 100 })).items) await letta.agents.delete(stale.id);
const agent = await letta.agents.create({
  name: `t-ts02-exercises-${crypto.randomUUID().slice(0, 8)}`,
  model: MODEL,
  embedding: EMBEDDING,
  tags: [TAG],
});
const on = { letta, agentId: agent.id, steps: ["ts02_lookup_member", "ts02_rating_change"] };
const fresh = { letta, model: MODEL, embedding: EMBEDDING, tag: TAG };
try {
  const own = (await letta.agents.retrieve(agent.id)).tool_rules;
  assert.ok((await checkRulesFor(rulesFor, on)).passed, "the reference rulesFor passes");
  assert.deepEqual(
    (await letta.agents.retrieve(agent.id)).tool_rules,
    own,
    "the check gives the agent its own rules back",
  );
  for (const [name, wrong] of Object.entries({ classNames, noTypes, noExit, anyLaterStep })) {
    assert.ok(!(await checkRulesFor(wrong, on)).passed, `rulesFor with ${name} is caught`);
  }
  assert.deepEqual(
    (await checkRulesFor(stub, on)).problems,
    ["rulesFor threw Error: not written yet"],
    "a stub is not yet, not a crash",
  );

  assert.ok((await checkGuestbookSource(guestbookSource, fresh)).passed, "the reference guestbookSource passes");
  for (const [name, wrong] of Object.entries({ overwrites, hardCoded, tsShaped, ownClient, cookedNewline })) {
    assert.notEqual(wrong(), guestbookSource(), `the wrong solution ${name} differs from the reference`);
    assert.ok(!(await checkGuestbookSource(wrong, fresh)).passed, `guestbookSource that ${name} is caught`);
  }
  assert.deepEqual((await checkGuestbookSource(stub, fresh)).problems, [
    "guestbookSource threw Error: not written yet",
  ]);
  const left = (await letta.tools.list({ name: "ts02_sign_guestbook" })).items;
  assert.deepEqual(left, [], "the check deletes the tool it registered");
  console.log("ts02 exercise checks: all as expected");
} finally {
  for (const made of (await letta.agents.list({ tags: [TAG], limit: 100 })).items) await letta.agents.delete(made.id);
}
