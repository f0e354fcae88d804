import "./turn_log.ts"; // under the course runner, each agent turn's seconds and tokens go to its report

// What helpers.progress does for the Python lessons: a line when a slow call starts, and one with its seconds when
// it ends, so a cell that waits for the model never looks stuck (the course runner counts a slow cell without the
// second line as silent).
export async function waiting<T>(
  what: string,
  run: () => Promise<T>,
  expect = "10 to 60 s on the local model",
): Promise<T> {
  console.log(`… ${what} (${expect})`);
  const started = performance.now();
  const seconds = () => ((performance.now() - started) / 1000).toFixed(1);
  try {
    const result = await run();
    console.log(`✓ ${what}: ${seconds()} s`);
    return result;
  } catch (err) {
    console.log(`✗ ${what}: ${seconds()} s`);
    throw err;
  }
}
