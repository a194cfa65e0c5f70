// A day of the system in a real browser (headless Chromium): a resident logs in, enrolls and
// shows a green code whose QR decodes to a pass that verifies; a checkpoint admits it through a
// keyboard-wedge scan (and queues a scan made offline, then syncs it); an official records a
// case for someone who was at the same venue; the resident's code turns red, naming the venue.
// SCREENSHOTS=dir writes every page at 360 px and 1280 px into dir.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import jsQR from 'jsqr';
import { PNG } from 'pngjs';
import { startDemo, residentId } from '../node.mjs';

const BIN = process.env.HC_BIN;
const SHOTS = process.env.SCREENSHOTS || '';
const VENUE = '滨江宝龙城';
const PHONE = '13912345678';

let node;
let browser;

before(async () => {
  assert.ok(BIN, 'HC_BIN names the healthcode binary');
  node = await startDemo(BIN);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  if (SHOTS) mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  if (browser) await browser.close();
  if (node) await node.stop();
});

/** Both widths of the current page, when screenshots were asked for. */
async function shoot(page, name) {
  if (!SHOTS) return;
  const size = page.viewportSize();
  for (const [width, height, tag] of [[360, 780, 'phone'], [1280, 800, 'desktop']]) {
    await page.setViewportSize({ width, height });
    await page.screenshot({ path: join(SHOTS, `${name}-${tag}.jpg`), fullPage: true, type: 'jpeg', quality: 70 });
  }
  await page.setViewportSize(size);
}

/** The text of the QR code shown in an element, read from a screenshot of it. */
async function readQr(locator) {
  const png = PNG.sync.read(await locator.screenshot());
  const found = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  assert.ok(found, 'a QR code is readable in the screenshot');
  return found.data;
}

async function wedge(page, text) {
  // A keyboard-wedge scanner types the code's characters and Enter into the focused field.
  await page.locator('#scan-input').focus();
  await page.keyboard.type(text, { delay: 0 });
  const t0 = Date.now();
  await page.keyboard.press('Enter');
  await page.locator('#verdict').waitFor({ state: 'visible', timeout: 5000 });
  return Date.now() - t0;
}

test('a day: enroll, green code, checkpoint admits, a case at the same venue turns the code red', { timeout: 600_000 }, async () => {
  const official = node.tokens['health_official'];
  const gate = node.tokens[`checkpoint ${VENUE}`];
  assert.ok(official && gate, 'the demo printed the official and checkpoint tokens');

  // --- The resident, on a phone.
  const phone = await browser.newContext({ viewport: { width: 360, height: 780 }, locale: 'zh-CN' });
  const resident = await phone.newPage();
  await resident.goto(node.base + '/');
  await shoot(resident, 'home');
  await resident.getByRole('link', { name: /居民/ }).click();
  await resident.waitForURL(/\/login$/);
  await resident.getByLabel('手机号').fill(PHONE);
  await resident.getByRole('button', { name: '获取验证码' }).click();
  const code = await node.codeFor(PHONE);
  await shoot(resident, 'login');
  await resident.getByLabel('6 位验证码').fill(code);
  await resident.getByRole('button', { name: '登录', exact: true }).click();
  await resident.waitForURL(/\/me$/);
  const cookies = await phone.cookies();
  const session = cookies.find((c) => c.name === 'hc_session');
  assert.ok(session && session.httpOnly && session.sameSite === 'Lax', 'the session cookie is HttpOnly and SameSite');
  await shoot(resident, 'enroll');

  await resident.getByLabel('姓名').fill('张三丰');
  await resident.getByLabel('证件号码').fill('11010519491231002X');
  await resident.getByLabel('登录所用手机号').fill(PHONE);
  await resident.getByRole('button', { name: '申领', exact: true }).click();
  await resident.waitForURL(/\/me\/[^/]+\/code$/);
  const personId = resident.url().split('/').at(-2);
  const band = resident.locator('.band');
  assert.equal(await band.getAttribute('data-colour'), 'green');
  assert.match(await band.innerText(), /绿码/);
  assert.match(await resident.locator('.person').innerText(), /张\*丰/);
  const remaining = Number(await resident.locator('#remaining').innerText());
  assert.ok(remaining > 0 && remaining <= 180, `the pass has ${remaining} s left`);
  await shoot(resident, 'code-green');

  // The QR decodes to a pass the node verifies, green, for this person's masked name.
  const passText = await readQr(resident.locator('#qr svg'));
  assert.match(passText, /^HCP1:/);
  const verified = await node.api('POST', '/api/v1/passes/verify', official, { text: passText });
  assert.equal(verified.status, 200);
  assert.equal(verified.body.valid, true, JSON.stringify(verified.body));
  assert.match(JSON.stringify(verified.body), /"green"/);

  // English by the toggle, kept by a cookie.
  await resident.getByRole('link', { name: 'English' }).click();
  assert.match(await resident.locator('.band').innerText(), /Green code/);
  assert.equal(await resident.locator('html').getAttribute('lang'), 'en');
  await resident.getByRole('link', { name: '中文' }).click();
  assert.match(await resident.locator('.band').innerText(), /绿码/);

  // Daily declaration, normal temperature: still green.
  await resident.goto(`${node.base}/me/${personId}/declare`);
  await shoot(resident, 'declare');
  await resident.getByLabel('今日体温（°C）').fill('36.5');
  await resident.getByRole('button', { name: '提交申报' }).click();
  await resident.waitForURL(/\/code$/);
  assert.equal(await resident.locator('.band').getAttribute('data-colour'), 'green');

  // --- The checkpoint at the venue, a desktop browser with a keyboard-wedge scanner.
  const desk = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN' });
  const guard = await desk.newPage();
  await guard.goto(node.base + '/checkpoint');
  await guard.waitForURL(/\/staff\/login$/);
  await shoot(guard, 'staff-login');
  await guard.getByLabel(/账号令牌/).fill(gate);
  await guard.getByRole('button', { name: '登录' }).click();
  await guard.waitForURL(/\/checkpoint$/);
  await shoot(guard, 'checkpoint');
  const took = await wedge(guard, passText);
  const verdict = await guard.locator('#verdict').innerText();
  assert.match(verdict, /绿码/);
  assert.match(verdict, /准予通行/);
  assert.match(verdict, /张\*丰/);
  assert.ok(took < 1000, `the verdict showed in ${took} ms`);
  await shoot(guard, 'checkpoint-admit');
  await guard.locator('#verdict').click();

  // Offline: the scan waits in the browser, counted, and is synced when the node is back.
  await desk.setOffline(true);
  await wedge(guard, passText);
  assert.match(await guard.locator('#verdict').innerText(), /离线/);
  assert.equal(await guard.locator('#unsynced').innerText(), '1');
  await shoot(guard, 'checkpoint-offline');
  await guard.locator('#verdict').click();
  await desk.setOffline(false);
  await guard.waitForFunction(() => document.getElementById('unsynced').textContent === '0', null, { timeout: 20_000 });

  // --- Someone else was at the venue at the same time: enrolled by an official and scanned in.
  const other = await node.api('POST', '/api/v1/people', official, {
    document_kind: 'resident_id', document_number: residentId('33010619800101123'), name: '李四', phone: '13912340000',
  });
  assert.equal(other.status, 201, JSON.stringify(other.body));
  const otherPass = await node.api('GET', `/api/v1/people/${other.body.id}/pass?format=text`, official);
  assert.equal(otherPass.status, 200);
  await wedge(guard, otherPass.body);
  assert.match(await guard.locator('#verdict').innerText(), /准予通行/);

  // --- The official records a case for that person in the console and watches the trace.
  const office = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN' });
  const doctor = await office.newPage();
  await doctor.goto(node.base + '/staff/login');
  await doctor.getByLabel(/账号令牌/).fill(official);
  await doctor.getByRole('button', { name: '登录' }).click();
  await doctor.waitForURL(/\/console$/);
  await shoot(doctor, 'console');
  await doctor.getByLabel('人员编号').fill(other.body.id);
  await doctor.getByLabel(/法律依据/).fill('杭卫发〔2020〕1号');
  await doctor.getByRole('button', { name: '登记并开始流调' }).click();
  await doctor.waitForURL(/\/console\/cases\/[^/]+$/);
  await doctor.waitForFunction(() => document.getElementById('trace-state')?.textContent === '已完成', null, { timeout: 60_000, polling: 500 });
  const tracePage = await doctor.locator('main').innerText();
  assert.match(tracePage, new RegExp(personId), 'the resident is among the contacts');
  assert.match(tracePage, new RegExp(VENUE));
  await shoot(doctor, 'case-trace');

  // --- The resident's code turns red, and says why, naming the venue.
  await resident.goto(`${node.base}/me/${personId}/code`);
  assert.equal(await resident.locator('.band').getAttribute('data-colour'), 'red');
  assert.match(await resident.locator('.band').innerText(), /红码/);
  await shoot(resident, 'code-red');
  await resident.goto(`${node.base}/me/${personId}/why`);
  const why = await resident.locator('main').innerText();
  assert.match(why, new RegExp(VENUE), 'the reason names the venue');
  assert.match(why, /密切接触者/);
  await shoot(resident, 'why');
  for (const [path, name] of [['visits', 'visits'], ['notifications', 'notifications'], ['audit', 'audit']]) {
    await resident.goto(`${node.base}/me/${personId}/${path}`);
    await shoot(resident, name);
  }
  assert.match(await resident.locator('main').innerText(), /contact tracing of case/, 'the tracer\'s record about me is listed');
  await resident.goto(`${node.base}/me/${personId}/visits`);
  assert.match(await resident.locator('main').innerText(), new RegExp(VENUE));
  await resident.goto(`${node.base}/me/checkin`);
  await shoot(resident, 'checkin');
});
