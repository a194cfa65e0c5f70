// Starts `healthcode demo` on a fresh SQLite data directory and a free port, and reads what it
// prints: the staff and checkpoint tokens (stdout) and the demo SMS gateway's login codes (log).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ANSI = /\x1b\[[0-9;]*m/g;

export async function startDemo(bin) {
  const dir = mkdtempSync(join(tmpdir(), 'hc-e2e-'));
  // The shipped policy, published with one parameter changed: a contact needs 5 minutes
  // together instead of 15, so that people scanned in seconds before a case is recorded are its
  // contacts without the test waiting a quarter of an hour.
  const policy = JSON.parse(execFileSync(bin, ['policy', 'default'], { encoding: 'utf8' }));
  policy.parameters.contact_min_overlap_minutes = 5;
  const policyFile = join(dir, 'policy.json');
  writeFileSync(policyFile, JSON.stringify(policy));
  const child = spawn(bin, ['--data-dir', dir, 'demo', '--listen', '127.0.0.1:0'], {
    env: { ...process.env, NO_COLOR: '1', RUST_LOG: 'info,sqlx=warn', HEALTHCODE_POLICY_FILE: policyFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const node = { child, dir, base: null, tokens: {}, codes: [], log: '' };
  const lines = (stream, onLine) => {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      node.log += chunk;
      rest += chunk;
      const parts = rest.split('\n');
      rest = parts.pop();
      parts.forEach((l) => onLine(l.replace(ANSI, '')));
    });
  };
  lines(child.stdout, (line) => {
    const started = line.match(/healthcode demo node: (http:\/\/\S+)/);
    if (started) node.base = started[1];
    const token = line.match(/^\s{4}(\S.*?)\s+(hc_[0-9a-f]{64})\s*$/);
    if (token) node.tokens[token[1].trim()] = token[2];
  });
  lines(child.stderr, (line) => {
    // The demo's gateway logs each SMS with the phone masked: 139****5678.
    const code = line.match(/to=(\d{3}\*{4}\d{4}) .*login code is (\d{6})/);
    if (code) node.codes.push({ to: code[1], code: code[2] });
  });
  const deadline = Date.now() + 300_000;
  while (!node.base) {
    if (child.exitCode !== null) throw new Error('the demo node exited:\n' + node.log);
    if (Date.now() > deadline) throw new Error('the demo node did not start in time:\n' + node.log);
    await new Promise((r) => setTimeout(r, 200));
  }
  node.stop = () => {
    child.kill('SIGINT');
    return new Promise((r) => child.once('exit', r)).then(() => rmSync(dir, { recursive: true, force: true }));
  };
  /** The latest code the demo SMS gateway logged for a phone and not handed out before: the
   * outbox sends after the request is answered, so an earlier login's code may still be the
   * last one logged when a test asks. */
  node.codeFor = async (phone) => {
    for (let i = 0; i < 300; i++) {
      const masked = phone.slice(0, 3) + '****' + phone.slice(-4);
      const found = node.codes.filter((c) => c.to === masked && !c.taken).pop();
      if (found) {
        found.taken = true;
        return found.code;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('no login code was logged for ' + phone + ':\n' + node.log.slice(-3000));
  };
  /** A call to the JSON API with a token. */
  node.api = async (method, path, token, body) => {
    const res = await fetch(node.base + path, {
      method,
      headers: { authorization: 'Bearer ' + token, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let json;
    try { json = JSON.parse(text); } catch { json = text; }
    return { status: res.status, body: json };
  };
  return node;
}

/** A valid resident ID: region, birth date, sequence, and the ISO 7064 MOD 11-2 check character. */
export function residentId(body17) {
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...body17].reduce((s, d, i) => s + Number(d) * weights[i], 0);
  return body17 + '10X98765432'[sum % 11];
}

/**
 * A one-frame video (YUV4MPEG2, 4:2:0) of a PNG centred on white, for Chromium's fake camera
 * (--use-file-for-fake-video-capture): the QR code held in front of the lens.
 */
export function pngToY4m(png) {
  // Room for the whole code and a white margin; 4:2:0 wants even sides.
  const side = Math.ceil((Math.max(png.width, png.height) + 64) / 2) * 2;
  const width = side, height = side;
  const y = Buffer.alloc(width * height, 255);
  const left = Math.floor((width - png.width) / 2);
  const top = Math.floor((height - png.height) / 2);
  for (let row = 0; row < png.height; row++) {
    for (let col = 0; col < png.width; col++) {
      const x = left + col, yy = top + row;
      if (x < 0 || yy < 0 || x >= width || yy >= height) continue;
      const i = (row * png.width + col) * 4;
      const a = png.data[i + 3] / 255;
      const luma = 0.299 * png.data[i] + 0.587 * png.data[i + 1] + 0.114 * png.data[i + 2];
      y[yy * width + x] = Math.round(luma * a + 255 * (1 - a));
    }
  }
  const chroma = Buffer.alloc((width / 2) * (height / 2) * 2, 128);
  const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F25:1 Ip A1:1 C420jpeg\nFRAME\n`);
  return Buffer.concat([header, y, chroma]);
}
