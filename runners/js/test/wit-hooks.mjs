// Resolves the component's `weir:plugin/*` imports to `wit-fake.js` (for host.test.js).
export async function resolve(specifier, context, next) {
  if (specifier.startsWith("weir:plugin/")) {
    return { url: new URL("./wit-fake.js", import.meta.url).href, shortCircuit: true };
  }
  return next(specifier, context);
}
