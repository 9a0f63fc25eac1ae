/**
 * A stand-in for a module object that loads the module on first use: the first property read,
 * `in` test or key listing calls `load`, and every later one goes to what it returned. The bundle
 * puts it in place of the Dapr SDK's top-level requires ([defer-requires.ts](defer-requires.ts)).
 */
export function lazyModule(load: () => object): object {
  let loaded: object | undefined;
  const module = () => (loaded ??= load());
  return new Proxy({}, {
    get: (_target, key): unknown => Reflect.get(module(), key),
    has: (_target, key) => Reflect.has(module(), key),
    ownKeys: () => Reflect.ownKeys(module()),
    getOwnPropertyDescriptor: (_target, key) => {
      const descriptor = Reflect.getOwnPropertyDescriptor(module(), key);
      // A proxy may report a property as non-configurable only when its own target has it so.
      return descriptor && { ...descriptor, configurable: true };
    },
  });
}
