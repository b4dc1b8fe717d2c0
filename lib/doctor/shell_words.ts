/**
 * How `/bin/sh -c` splits a command line into words (ejabberd runs `extauth_program` through
 * the shell): quotes and backslashes as POSIX says, and what the shell would do beyond
 * splitting (expand `$`, backquotes or globs, run a pipe or a second command) reported
 * instead of done.
 *
 * @module
 */

/** The words, and what in the line the shell would treat as more than a word. */
export interface ShellWords {
  readonly words: readonly string[];
  /** Unquoted or double-quoted characters the shell would act on, described. */
  readonly notes: readonly string[];
  /** Set when the line cannot be parsed at all (an unterminated quote). */
  readonly error?: string;
}

const OPERATORS = new Set(["|", "&", ";", "<", ">", "(", ")"]);
const GLOBS = new Set(["*", "?", "["]);

/**
 * Splits `line` as `/bin/sh` would.
 *
 * @example Quotes keep a space in one word
 * ```ts
 * import assert from "node:assert/strict";
 * import { shellWords } from "./shell_words.ts";
 * const split = shellWords(`/usr/bin/xmpp-extauth --url 'http://a/x y' --debug`);
 * assert.deepEqual(split.words, ["/usr/bin/xmpp-extauth", "--url", "http://a/x y", "--debug"]);
 * assert.deepEqual(split.notes, []);
 * assert.match(shellWords("prog 'open").error ?? "", /unterminated/);
 * ```
 */
export function shellWords(line: string): ShellWords {
  const words: string[] = [];
  const notes = new Set<string>();
  let word: string | undefined;
  let i = 0;
  const add = (text: string) => word = (word ?? "") + text;
  while (i < line.length) {
    const c = line[i]!;
    if (c === " " || c === "\t" || c === "\n") {
      if (word !== undefined) words.push(word);
      word = undefined;
      i++;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) return { words, notes: [...notes], error: "unterminated single quote" };
      add(line.slice(i + 1, end));
      i = end + 1;
    } else if (c === '"') {
      let j = i + 1;
      let text = "";
      while (j < line.length && line[j] !== '"') {
        if (line[j] === "\\" && j + 1 < line.length && '$`"\\\n'.includes(line[j + 1]!)) {
          if (line[j + 1] !== "\n") text += line[j + 1];
          j += 2;
          continue;
        }
        if (line[j] === "$" || line[j] === "`") notes.add(`"${line[j]}" is expanded by the shell`);
        text += line[j];
        j++;
      }
      if (j >= line.length) return { words, notes: [...notes], error: "unterminated double quote" };
      add(text);
      i = j + 1;
    } else if (c === "\\") {
      if (i + 1 < line.length && line[i + 1] !== "\n") add(line[i + 1]!);
      i += 2;
    } else {
      if (c === "#" && word === undefined) {
        notes.add('"#" starts a comment: the rest of the line is ignored');
        break;
      }
      if (OPERATORS.has(c)) notes.add(`"${c}" is a shell operator, not part of a word`);
      else if (c === "$" || c === "`") notes.add(`"${c}" is expanded by the shell`);
      else if (GLOBS.has(c)) notes.add(`"${c}" is a file-name pattern to the shell`);
      else if (c === "~" && word === undefined) notes.add('"~" is expanded to a home folder');
      add(c);
      i++;
    }
  }
  if (word !== undefined) words.push(word);
  return { words, notes: [...notes] };
}
