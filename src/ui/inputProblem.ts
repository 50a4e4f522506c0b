/**
 * An input box's validation from a check that throws: the message of what `check` throws, shown
 * under the box as the user types; undefined (the input is fine) when it does not throw.
 */
export function inputProblem(check: () => unknown): string | undefined {
  try {
    check();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}
