// Shared by the end-to-end tests: start a program that announces its port, and stop them all.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export const children = [];

// Starts a program that prints "listening HOST:PORT" as its first line; resolves to the port.
export function startListening(cmd, args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      const m = /^listening .*:(\d+)$/.exec(line.trim());
      if (m) resolve({ child, port: Number(m[1]) }); else reject(new Error(`${cmd}: ${line}`));
    });
    child.once('exit', (code) => reject(new Error(`${cmd} exited with ${code}: ${stderr}`)));
  });
}

// Sends SIGTERM to `child` and resolves once it has exited.
export function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) { resolve(); return; }
    child.removeAllListeners('exit');
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
