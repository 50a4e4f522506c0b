// Python sources are bundled into the agent as text (webpack asset/source).
declare module '*.py' {
  const source: string;
  export default source;
}
