import { createInterface } from 'node:readline';

/**
 * Reads a secret from standard input: the first line of piped input, or a
 * line typed at a prompt without echo when standard input is a terminal.
 */
export async function readSecret(prompt: string): Promise<string> {
  if (!process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) {
      chunks.push(chunk as Buffer);
    }
    return (Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '');
  }

  // The interface turns the terminal's own echo off, so the prompt comes
  // after it: a secret typed or pasted right after the prompt is not shown.
  const terminal = createInterface({ input: process.stdin, terminal: true });
  // Replace echoed characters with nothing while the secret is typed.
  (terminal as unknown as { _writeToOutput: (text: string) => void })._writeToOutput = () => {};
  process.stderr.write(prompt);

  return new Promise((resolve) => {
    terminal.question('', (answer) => {
      terminal.close();
      process.stderr.write('\n');
      resolve(answer);
    });
  });
}
