// Greets each input line: `X` becomes `Hello X!`.
//
// The smallest JavaScript plugin: one default-exported function and a line transform.

/** @param {import("weir-sdk").Context} ctx */
export default async function hello(ctx) {
  await ctx.mapLines((name) => `Hello ${name}!`);
}
