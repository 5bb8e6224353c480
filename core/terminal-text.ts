/**
 * Text that reaches a terminal. Data (a source file's bytes, file names, query values) may carry
 * control characters that a terminal obeys: ESC sequences move the cursor, clear the screen, retitle
 * the window or set the clipboard (OSC 52), CR overwrites the line, C1 controls (U+0080..U+009F) act as
 * ESC sequences on many terminals. Human output shows them as `\xNN` escapes instead: values where they
 * are formatted (`escapeControl`), and everything the CLI writes for people through `printable`.
 */

// C0 controls but tab and newline, DEL, and C1 controls.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
// The colour sequences picocolors writes (SGR: ESC [ params m).
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching ESC is the point
const COLOUR = /(\u001b\[[0-9;]*m)/;

/** Every control character but tab and newline as a visible `\xNN` escape. */
export function escapeControl(text: string): string {
  return text.replace(CONTROL, (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * Human output as it may be written: controls escaped, except colour sequences while `colours` is on
 * (our own styling; with colours off nothing passes). Values are escaped where they are formatted,
 * so this is the net for whatever a message or renderer forgot.
 */
export function printable(text: string, colours: boolean): string {
  if (!colours) return escapeControl(text);
  return text
    .split(COLOUR)
    .map((part, index) => (index % 2 === 1 ? part : escapeControl(part)))
    .join('');
}

/**
 * One JSON line. JSON.stringify escapes C0 controls but leaves DEL and C1 raw; escaping them too keeps
 * the same value and a terminal showing the line safe.
 */
export function jsonLine(value: unknown): string {
  return `${JSON.stringify(value).replace(/[\u007f-\u009f]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)}\n`;
}
