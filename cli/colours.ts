/**
 * Whether text for one stream gets colours. picocolors' own default turns colours on whenever a `CI`
 * variable is set, even for a pipe or a file, which put escape codes into text that tests and scripts
 * read. Here colours follow the stream they are written to: NO_COLOR (https://no-color.org) turns them
 * off, FORCE_COLOR on, and otherwise only a terminal that is not `dumb` gets them.
 */
import pc from 'picocolors';

export type Colours = ReturnType<typeof pc.createColors>;

export function coloursFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Colours {
  return pc.createColors(wantsColour(stream, env));
}

function wantsColour(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  return !!stream.isTTY && env.TERM !== 'dumb';
}
