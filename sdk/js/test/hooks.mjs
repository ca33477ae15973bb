// Resolves the `weir:plugin/*` imports (the component's, at build time) to the fake host.
export async function resolve(specifier, context, next) {
  if (specifier.startsWith("weir:plugin/")) {
    return { url: new URL("./fake-host.js", import.meta.url).href, shortCircuit: true };
  }
  return next(specifier, context);
}
