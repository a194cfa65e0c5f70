// A day of the system in a real browser (headless Chromium): a resident logs in, enrolls and
// shows a green code whose QR decodes to a pass that verifies; a checkpoint admits it through a
// keyboard-wedge scan (and queues a scan made offline, then syncs it); an official records a
// case for someone who was at the same venue; the resident's code turns red, naming the venue.
// SCREENSHOTS=dir writes every page at 360 px and 1280 px into dir.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import jsQR from 'jsqr';
import { PNG } from 'pngjs';
import { startDemo, residentId, pngToY4m } from '../node.mjs';

const BIN = process.env.HC_BIN;
const SHOTS = process.env.SCREENSHOTS || '';
const VENUE = '滨江宝龙城';
const PHONE = '13912345678';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let node;
let browser;

before(async () => {
  assert.ok(BIN, 'HC_BIN names the healthcode binary');
  node = await startDemo(BIN);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
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

  // The phone logged in with is on the form already. A mistyped check digit is said next to the
  // number, and the form keeps what was typed.
  assert.equal(await resident.getByLabel('登录所用手机号').inputValue(), PHONE);
  await resident.getByLabel('姓名').fill('张三丰');
  await resident.getByLabel('证件号码').fill('110105194912310021');
  await resident.getByRole('button', { name: '申领', exact: true }).click();
  await resident.waitForURL(/\/me\/enroll$/);
  assert.match(await resident.locator('#document_number-error').innerText(), /校验位/);
  assert.equal(await resident.getByLabel('证件号码').getAttribute('aria-invalid'), 'true');
  assert.equal(await resident.getByLabel('姓名').inputValue(), '张三丰');
  await shoot(resident, 'enroll-error');
  await resident.getByLabel('证件号码').fill('11010519491231002X');
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

  // The QR, drawn in green, decodes to a pass the node verifies, for this person's masked name.
  assert.match(await resident.locator('#qr svg').innerHTML(), /#0b7a36/i);
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
  console.log(`keyboard-wedge scan: verdict on screen ${took} ms after Enter`);
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

  // --- The camera: a browser whose (fake) camera sees the resident's pass. Chromium on Linux has
  // no BarcodeDetector, so this reads it with the vendored jsQR.
  const png = await fetch(`${node.base}/api/v1/people/${personId}/pass?format=png`, { headers: { authorization: 'Bearer ' + official } });
  assert.equal(png.status, 200);
  const video = join(mkdtempSync(join(tmpdir(), 'hc-cam-')), 'pass.y4m');
  writeFileSync(video, pngToY4m(PNG.sync.read(Buffer.from(await png.arrayBuffer()))));
  const camBrowser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [...CHROMIUM_ARGS, '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${video}`],
  });
  try {
    const cam = await camBrowser.newContext({ viewport: { width: 360, height: 780 }, locale: 'zh-CN', permissions: ['camera'] });
    const lens = await cam.newPage();
    await lens.goto(node.base + '/staff/login');
    await lens.getByLabel(/账号令牌/).fill(gate);
    await lens.getByRole('button', { name: '登录' }).click();
    await lens.waitForURL(/\/checkpoint$/);
    await lens.getByRole('button', { name: '用摄像头扫码' }).click();
    await lens.locator('#verdict').waitFor({ state: 'visible', timeout: 20_000 });
    const seen = await lens.locator('#verdict').innerText();
    assert.match(seen, /准予通行/, seen);
    assert.match(seen, /张\*丰/);
  } finally {
    await camBrowser.close();
  }

  // The vendored decoder is the npm package's own file, at the lockfile's version.
  const here = fileURLToPath(new URL('.', import.meta.url));
  assert.ok(readFileSync(join(here, '../../crates/healthcode-server/assets/vendor/jsQR-1.4.0.js'))
    .equals(readFileSync(join(here, '../node_modules/jsqr/dist/jsQR.js'))), 'the vendored jsQR matches npm');

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
  // No id is copied: the official finds the person by phone, saying why, and records the case
  // on their record.
  await doctor.getByRole('link', { name: '查找人员' }).click();
  await doctor.getByLabel(/手机号（含其监护的儿童）/).fill('13912340000');
  await doctor.getByLabel('查询事由（本人可见）').nth(1).fill('阳性报告核实');
  await doctor.getByRole('button', { name: '查找' }).nth(1).click();
  await doctor.getByRole('link', { name: '查看记录' }).first().click();
  await doctor.waitForURL(/\/console\/people\/[0-9a-f]+$/);
  assert.match(await doctor.locator('main').innerText(), /李\*/);
  await doctor.getByLabel(/病例的法律依据/).fill('杭卫发〔2020〕1号');
  await doctor.getByRole('button', { name: '登记并开始流调' }).click();
  await doctor.waitForURL(/\/console\/cases\/[^/]+$/);
  await doctor.waitForFunction(() => document.getElementById('trace-state')?.textContent === '已完成', null, { timeout: 60_000, polling: 500 });
  const tracePage = await doctor.locator('main').innerText();
  assert.match(tracePage, /张\*丰/, 'the resident is among the contacts, by masked name');
  assert.doesNotMatch(tracePage, new RegExp(personId), 'no bare id to copy');
  assert.match(tracePage, /密切接触者（人）/, 'counts say what they count');
  assert.match(tracePage, new RegExp(VENUE));
  await shoot(doctor, 'case-trace');
  // Run it again (say a scanner's offline batch came late): the same contacts, none twice.
  const closeBefore = await doctor.locator('#close-count').innerText();
  assert.match(await doctor.locator('#again').innerText(), /已决定的申诉仍然有效/);
  await doctor.getByRole('button', { name: '重新流调' }).click();
  await doctor.waitForFunction(() => document.getElementById('trace-state')?.textContent === '已完成', null, { timeout: 60_000, polling: 500 });
  assert.equal(await doctor.locator('#close-count').innerText(), closeBefore, 'the same contacts, none twice');
  const caseUrl = doctor.url();
  assert.equal(await doctor.locator(`a[href="/console/people/${personId}"]`).count() > 0, true, 'contacts link to their records');
  await doctor.goto(node.base + '/console');
  const caseId = caseUrl.split('/').at(-1);
  const listed = doctor.locator(`tr:has(a[href="/console/cases/${caseId}"])`);
  assert.match(await listed.innerText(), /\S\*\S* · \d\d-\d\d \d\d:\d\d[\s\S]*已完成/, 'the console lists the case by its person and time, and its trace');
  assert.doesNotMatch(await doctor.locator('main').innerText(), new RegExp(caseId), 'no record id to copy');
  await shoot(doctor, 'console-cases');

  // --- The resident's code turns red, and says why, naming the venue.
  await resident.goto(`${node.base}/me/${personId}/code`);
  assert.equal(await resident.locator('.band').getAttribute('data-colour'), 'red');
  assert.match(await resident.locator('.band').innerText(), /红码/);
  assert.match(await resident.locator('#region').innerText(), /杭州市健康码/, 'the region over the code');
  // The code is drawn in red, and an ordinary decoder (jsQR, on the screenshot) still reads it.
  assert.match(await resident.locator('#qr svg').innerHTML(), /#c01c1c/i);
  const redPass = await node.api('POST', '/api/v1/passes/verify', official, { text: await readQr(resident.locator('#qr svg')) });
  assert.equal(redPass.body.valid, true, JSON.stringify(redPass.body));
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
  const told = await resident.locator('main').innerText();
  assert.match(told, /记录了您的密接判定（流行病学调查）/, 'the tracer\'s record about me, in a sentence');
  assert.doesNotMatch(told, /contact tracing|colour|f-[0-9a-f]{8}/, 'in Chinese, with no case id');
  await resident.goto(`${node.base}/me/${personId}/visits`);
  assert.match(await resident.locator('main').innerText(), new RegExp(VENUE));
  await resident.goto(`${node.base}/me/checkin`);
  await shoot(resident, 'checkin');

  // --- The resident appeals the contact record; the official withdraws it; green again.
  await resident.goto(`${node.base}/me/${personId}/why`);
  await resident.locator('form.appeal textarea').first().fill('我当时不在该商场 / I was not at the mall then');
  await resident.locator('form.appeal button').first().click();
  await resident.waitForURL(/\/why$/);
  assert.match(await resident.locator('main').innerText(), /审核中/);
  await doctor.goto(node.base + '/console/appeals');
  assert.match(await doctor.locator('main').innerText(), /我当时不在该商场/);
  assert.match(await doctor.locator('main').innerText(), /申诉的记录：密接判定/, 'the disputed record is shown');
  assert.equal(await doctor.getByLabel('决定').inputValue(), '', 'no decision is made by default');
  await shoot(doctor, 'console-appeals');
  await doctor.getByLabel('决定').selectOption('fact_retracted');
  await doctor.getByLabel('理由').fill('复核：扫码时间不足五分钟');
  await doctor.getByRole('button', { name: '提交决定' }).click();
  await doctor.waitForURL(/\/console\/appeals$/);
  await resident.goto(`${node.base}/me/${personId}/code`);
  assert.equal(await resident.locator('.band').getAttribute('data-colour'), 'green', 'the withdrawn record no longer colours the code');

  // --- The rest of the console: finding a person, a record, risk areas, venues, the policy, the dashboard.
  await doctor.goto(`${node.base}/console/people`);
  const byPhone = doctor.locator('form', { hasText: '按手机号查找' });
  await byPhone.getByLabel('手机号（含其监护的儿童）').fill(PHONE);
  await byPhone.getByLabel('查询事由（本人可见）').fill('核实复核结果');
  await byPhone.getByRole('button', { name: '查找' }).click();
  await doctor.locator(`a[href="/console/people/${personId}"]`).waitFor();
  await shoot(doctor, 'console-find');
  await doctor.goto(`${node.base}/console/people/${other.body.id}`);
  assert.match(await doctor.locator('.band').innerText(), /红码/);
  await shoot(doctor, 'console-person');
  await doctor.goto(node.base + '/console/risk-areas');
  await doctor.getByLabel('名称（公布用）').fill('滨江区某小区');
  await doctor.getByLabel('行政区划代码（6 位）').fill('330108');
  // Two days ago, China Standard Time, as the datetime-local field takes it.
  const started = new Date(Date.now() - 2 * 86400e3 + 8 * 3600e3).toISOString().slice(0, 16);
  await doctor.getByLabel('起始时间（北京时间）').fill(started);
  await doctor.getByLabel('法律依据').fill('杭防控〔2020〕9号');
  await doctor.getByRole('button', { name: '提议' }).click();
  await doctor.waitForURL(/\/console\/risk-areas$/);
  assert.match(await doctor.locator('main').innerText(), /待第二名官员审批/);
  await shoot(doctor, 'console-risk-areas');
  await doctor.goto(node.base + '/console/venues');
  await shoot(doctor, 'console-venues');
  await doctor.getByRole('link', { name: '打印场所码' }).first().click();
  const venueCode = await readQr(doctor.locator('.venue-code svg'));
  assert.match(venueCode, /^HCV1:/, 'the printed venue code reads as one');
  await shoot(doctor, 'console-venue-code');

  // The resident checks in at that venue by pasting the venue code's text.
  await resident.goto(`${node.base}/me/checkin`);
  await resident.getByLabel(/粘贴场所码内容/).fill(venueCode);
  await resident.getByRole('button', { name: '登记', exact: true }).click();
  await resident.waitForURL(/\/me\/checkin$/);
  const checkedIn = await resident.locator('main').innerText();
  assert.match(checkedIn, /绿码/);
  assert.match(checkedIn, /张\*丰/);
  await shoot(resident, 'checkin-done');
  await doctor.goto(node.base + '/policy');
  assert.match(await doctor.locator('main').innerText(), /close-contact/);
  await shoot(doctor, 'policy');
  await doctor.goto(node.base + '/console/dashboard');
  assert.equal(await doctor.locator('.chart svg').count(), 5);
  await shoot(doctor, 'console-dashboard');

  // --- The auditor reads the log; the chain checks out.
  const audit = await office.newPage();
  await office.clearCookies();
  await audit.goto(node.base + '/staff/login');
  await audit.getByLabel(/账号令牌/).fill(node.tokens['auditor']);
  await audit.getByRole('button', { name: '登录' }).click();
  await audit.waitForURL(/\/console$/);
  await audit.goto(`${node.base}/console/audit?subject=${personId}`);
  assert.match(await audit.locator('#chain-ok').innerText(), /审计链完整/);
  assert.match(await audit.locator('main').innerText(), /appeal/);
  await shoot(audit, 'console-audit');
});

/** Signs a staff member in on a page with their token. */
async function signIn(page, token) {
  await page.goto(node.base + '/staff/login');
  await page.getByLabel(/账号令牌/).fill(token);
  await page.getByRole('button', { name: '登录' }).click();
  await page.waitForURL(/\/(console|checkpoint)$/);
}

test('a family comes back: applied, verified by the community, scanned at the station, handed over, observed at home', { timeout: 300_000 }, async () => {
  const FAMILY = '13700000001';
  const worker = node.tokens['community_worker'];
  const district = node.tokens['district 330106'];
  const street = node.tokens['street 330106-001'];
  const station = node.tokens['checkpoint 杭州东站'];
  assert.ok(worker && district && street && station, 'the demo printed the return journey tokens');

  // --- The parent, on a phone: the application the demo filed waits for the community.
  const phone = await browser.newContext({ viewport: { width: 360, height: 780 }, locale: 'zh-CN' });
  const resident = await phone.newPage();
  await resident.goto(node.base + '/login');
  await resident.getByLabel('手机号').fill(FAMILY);
  await resident.getByRole('button', { name: '获取验证码' }).click();
  await resident.getByLabel('6 位验证码').fill(await node.codeFor(FAMILY));
  await resident.getByRole('button', { name: '登录', exact: true }).click();
  await resident.waitForURL(/\/me$/);
  await resident.getByRole('link', { name: '返程申请' }).click();
  await resident.waitForURL(/\/me\/[^/]+\/returns$/);
  const parentId = resident.url().split('/').at(-2);
  assert.match(await resident.locator('.return h2').innerText(), /待社区核实/);
  assert.match(await resident.locator('.return').innerText(), /2 人/);
  await shoot(resident, 'return-applied');

  // --- The community worker, on a phone in the field: call, then approve.
  const field = await browser.newContext({ viewport: { width: 360, height: 780 }, locale: 'zh-CN' });
  const community = await field.newPage();
  await signIn(community, worker);
  await community.getByRole('link', { name: '返程管理' }).click();
  await community.waitForURL(/\/console\/returns$/);
  let card = community.locator('.return[data-state="submitted"]').first();
  await card.getByLabel('电话核实结果').selectOption('address_confirmed');
  await card.getByRole('button', { name: '记录通话' }).click();
  await community.waitForURL(/\/console\/returns$/);
  card = community.locator('.return[data-state="submitted"]').first();
  assert.match(await card.innerText(), /地址已核实/);
  await card.getByLabel('审核', { exact: true }).selectOption('approve');
  await card.getByLabel('理由', { exact: true }).fill('电话核实地址无误');
  await card.getByRole('button', { name: '提交审核' }).click();
  await community.waitForURL(/\/console\/returns$/);
  assert.equal(await community.locator('.chart svg').count(), 1, 'the funnel');
  await shoot(community, 'console-returns');

  // Every step reaches the parent, and the code page carries the approval beside the colour.
  await resident.reload();
  const steps = await resident.locator('.return').innerText();
  assert.match(steps, /社区来电：地址已核实/);
  assert.match(steps, /社区审核通过/);
  await resident.goto(`${node.base}/me/${parentId}/code`);
  assert.match(await resident.locator('#journey').innerText(), /返程已获批/);
  const passText = await readQr(resident.locator('#qr svg'));

  // --- The arrival station scans the code and takes the temperature.
  const desk = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN' });
  const gate = await desk.newPage();
  await signIn(gate, station);
  await gate.getByRole('link', { name: '返程到站核验' }).click();
  await gate.waitForURL(/\/checkpoint\/arrivals$/);
  await gate.getByLabel(/扫描返程人员的健康码/).fill(passText);
  await gate.getByLabel(/体温/).fill('36.6');
  await gate.getByRole('button', { name: '核验并登记到站' }).click();
  assert.match(await gate.locator('#arrival').innerText(), /已进入/);
  assert.equal(await gate.locator('#arrival').getAttribute('data-fever'), 'false');
  await shoot(gate, 'station-arrival');

  // --- The district and the street office receive by the application's number.
  for (const token of [district, street]) {
    const office = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN' });
    const page = await office.newPage();
    await signIn(page, token);
    await page.goto(node.base + '/console/returns');
    await page.getByRole('button', { name: '按申请编号确认接收' }).first().click();
    await page.waitForURL(/\/console\/returns$/);
    await office.close();
  }

  // --- The community receives the family by scanning the parent's code: home observation.
  await community.goto(node.base + '/console/returns');
  await community.getByLabel('扫描返程人员的健康码').fill(passText);
  await community.getByRole('button', { name: '确认接收', exact: true }).click();
  await community.waitForURL(/\/console\/returns$/);
  const board = await community.locator('#observation').innerText();
  assert.match(board, /王\*国/);
  assert.match(board, /1 \/ 14/);
  await shoot(community, 'console-observation');

  await resident.goto(`${node.base}/me/${parentId}/returns`);
  assert.match(await resident.locator('.return').innerText(), /社区接收，到家/);
  await resident.goto(`${node.base}/me/${parentId}/code`);
  assert.match(await resident.locator('#journey').innerText(), /居家观察第 1 \/ 14 天/);
  await shoot(resident, 'code-observation');

  // A fever on day 1 of observation: yellow, and still marked as under observation.
  await resident.goto(`${node.base}/me/${parentId}/declare`);
  await resident.getByLabel('今日体温（°C）').fill('38.2');
  await resident.getByRole('button', { name: '提交申报并打卡' }).click();
  await resident.waitForURL(/\/code$/);
  assert.equal(await resident.locator('.band').getAttribute('data-colour'), 'yellow');
  assert.match(await resident.locator('.band').innerText(), /黄码/);
  assert.match(await resident.locator('main').innerText(), /居家观察/);
  await shoot(resident, 'code-yellow');
  for (const context of [phone, field, desk]) await context.close();
});

test('a policy version: proposed by one official, approved by another after reading its dry run', { timeout: 300_000 }, async () => {
  const first = node.tokens['health_official'];
  const second = node.tokens['health_official 2'];
  assert.ok(first && second, 'the demo printed two health officials');
  const published = await node.api('GET', '/api/v1/policy', first);
  const doc = published.body;
  doc.version = '2026.2-e2e';
  doc.rules = doc.rules.filter((r) => r.id !== 'declared-symptoms');

  const desk = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN' });
  const proposer = await desk.newPage();
  await signIn(proposer, first);
  await proposer.getByRole('link', { name: '规则版本与审批' }).click();
  await proposer.waitForURL(/\/policy\/versions$/);
  await proposer.locator('#document').fill(JSON.stringify(doc));
  await proposer.getByLabel('法律依据').fill('杭卫发〔2020〕30号：发热申报不再赋黄码');
  await proposer.getByRole('button', { name: '提出并试算' }).click();
  await proposer.waitForURL(/\/console\/policy\/[^/]+$/);
  assert.match(await proposer.locator('#dry-run').innerText(), /判定人数/);
  await shoot(proposer, 'console-policy-proposed');

  // The second official reads the dry run before approving.
  const other = await browser.newContext({ viewport: { width: 360, height: 780 }, locale: 'zh-CN' });
  const approver = await other.newPage();
  await signIn(approver, second);
  await approver.goto(node.base + '/policy/versions');
  await approver.getByRole('link', { name: '查看试算并审批' }).first().click();
  await approver.waitForURL(/\/console\/policy\/[^/]+$/);
  const dry = await approver.locator('#dry-run').innerText();
  assert.match(dry, /黄码/, 'the demo city has fever declarations this version turns green');
  assert.ok(Number(await approver.locator('#dry-run td.people').first().innerText()) > 0);
  await shoot(approver, 'console-policy-dry-run');
  await approver.getByRole('button', { name: '批准此版本' }).click();
  await approver.waitForURL(/\/policy\/versions$/);
  const entry = approver.locator('.policy-version[data-version="2026.2-e2e"]');
  assert.match(await entry.innerText(), /已批准/);
  assert.match(await entry.innerText(), /删除规则 declared-symptoms/);
  await shoot(approver, 'policy-versions');
  for (const context of [desk, other]) await context.close();
});

// --- Every page in one language. Run last, when the day has left cases, appeals, returns and a
// policy version behind, so that the pages hold what people really read.

/** Text of the page, element by element, in a language other than the one it is marked with.
 *  Names and codes are marked `translate="no"` and are not checked; text marked with its own
 *  `lang` (the language toggle) is checked against that language. */
function foreignText(names) {
  const ACRONYMS = new Set(['QR', 'SMS', 'ID', 'UTC', 'HTTP', 'PCR', 'CSV', 'JSON', 'API', 'GB', 'T', 'IgM', 'IgG', 'PDF', 'SVG']);
  const han = /[\p{Script=Han}\u3000-\u303f\uff01-\uff0f\uff1a-\uff20]/u;
  const found = [];
  const langOf = (el) => (el.closest('[lang]')?.getAttribute('lang') || 'zh').slice(0, 2);
  const exempt = (el) => el.closest('[translate="no"], script, style, template, noscript, code, pre, textarea, [hidden]');
  // Names are the same in both languages: places, venues, and people's masked names (王*国).
  // Official documents are named by their number (杭卫发〔2020〕9号), a name in any language.
  const unnamed = (text) => names.reduce((t, n) => t.split(n).join(' '), text)
    .replace(/[\p{Script=Han}]\*+[\p{Script=Han}]?/gu, ' ')
    .replace(/[\p{Script=Han}]+〔\d{4}〕\d+号/gu, ' ');
  const check = (text, el, where) => {
    const s = unnamed(text).replace(/\s+/g, ' ').trim();
    if (!s) return;
    if (langOf(el) === 'en') {
      if (han.test(s)) found.push(`${where}: ${s}`);
    } else {
      const words = s.split(/[^A-Za-z0-9]+/).filter((w) => /^[A-Za-z]{2,}$/.test(w) && !ACRONYMS.has(w));
      if (words.length) found.push(`${where}: ${s}  [${words.join(' ')}]`);
    }
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || exempt(el)) continue;
    check(n.textContent, el, el.tagName.toLowerCase());
  }
  for (const el of document.querySelectorAll('[placeholder], [aria-label], [title], [alt], input[type=submit][value]')) {
    if (exempt(el)) continue;
    for (const a of ['placeholder', 'aria-label', 'title', 'alt', 'value']) {
      if (a === 'value' && el.type !== 'submit') continue;
      if (el.hasAttribute(a)) check(el.getAttribute(a), el, `${el.tagName.toLowerCase()}@${a}`);
    }
  }
  check(document.title, document.documentElement, 'title');
  return found;
}

/** Walks every page reachable by links from `start` (same site, GET), in Chinese and in
 *  English, and gives what each says in the wrong language. */
async function walk(page, start, names, limit = 80) {
  const seen = new Set();
  const queue = [start];
  // Pages of one kind (a person, a case, a venue) are walked twice at most, not once per record.
  const kinds = new Map();
  const kind = (path) => path.replace(/\/(demo-[\w-]+|[0-9a-f]{16,}|f-[0-9a-f]+)(?=\/|$|\?)/g, '/:id').replace(/\?.*$/, '');
  const wrong = [];
  const base = new URL(node.base);
  while (queue.length && seen.size < limit) {
    const path = queue.shift();
    if (seen.has(path)) continue;
    seen.add(path);
    for (const lang of ['zh', 'en']) {
      const url = new URL(path, base);
      url.searchParams.set('lang', lang);
      const res = await page.goto(url.href, { waitUntil: 'load' });
      // A page someone may not open (403) still speaks one language; a missing one is a defect.
      if (!res || (res.status() >= 400 && res.status() !== 403)) {
        wrong.push(`${path} (${lang}): HTTP ${res && res.status()}`);
        continue;
      }
      if (!(res.headers()['content-type'] || '').startsWith('text/html')) break;
      const htmlLang = await page.evaluate(() => document.documentElement.lang.slice(0, 2));
      if (htmlLang !== lang) wrong.push(`${path} (${lang}): the page is marked as ${htmlLang}`);
      for (const w of await page.evaluate(foreignText, names)) wrong.push(`${path} (${lang}) ${w}`);
      if (lang === 'zh') {
        const links = await page.evaluate(() => [...document.querySelectorAll('a[href]')].map((a) => a.getAttribute('href')));
        for (const href of links) {
          const to = new URL(href, page.url());
          if (to.origin !== base.origin || /\.\w+$/.test(to.pathname) || to.pathname.startsWith('/api/')) continue;
          to.searchParams.delete('lang');
          const next = to.pathname + (to.search || '');
          const k = kind(next);
          if (seen.has(next) || queue.includes(next) || (kinds.get(k) || 0) >= 2) continue;
          kinds.set(k, (kinds.get(k) || 0) + 1);
          queue.push(next);
        }
      }
    }
  }
  await page.goto(new URL('/?lang=zh', base).href);
  return { wrong, pages: seen.size };
}

test('every page reads in one language: Chinese in Chinese, English in English, names and codes aside', { timeout: 600_000 }, async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN' });
  const page = await context.newPage();
  const report = [];
  let pages = 0;
  // The names of places (GB/T 2260) and of the demo's venues, longest first.
  const regions = readFileSync(new URL('../../crates/healthcode-core/data/gbt2260.csv', import.meta.url), 'utf8')
    .split('\n').slice(1).map((l) => l.split(',')[1]).filter(Boolean);
  const venues = await node.api('GET', '/api/v1/venues', node.tokens['health_official']);
  assert.equal(venues.status, 200);
  const names = [...new Set([...regions, ...venues.body.map((v) => v.name)])].sort((a, b) => b.length - a.length);
  // Anyone, before signing in.
  for (const start of ['/', '/login', '/staff/login', '/policy', '/policy/versions']) {
    const r = await walk(page, start, names, 10);
    report.push(...r.wrong);
    pages += r.pages;
  }
  // The demo family, whose child is in care and whose return is filed.
  await page.goto(node.base + '/login?lang=zh');
  await page.getByLabel('手机号').fill('13700000001');
  await page.getByRole('button', { name: '获取验证码' }).click();
  await page.getByLabel('6 位验证码').fill(await node.codeFor('13700000001'));
  await page.getByRole('button', { name: '登录', exact: true }).click();
  await page.waitForURL(/\/me$/);
  let r = await walk(page, '/me', names);
  report.push(...r.wrong);
  pages += r.pages;
  // The resident of the day, whose code turned red and who appealed.
  await context.clearCookies();
  await page.goto(node.base + '/login?lang=zh');
  await page.getByLabel('手机号').fill(PHONE);
  await page.getByRole('button', { name: '获取验证码' }).click();
  await page.getByLabel('6 位验证码').fill(await node.codeFor(PHONE));
  await page.getByRole('button', { name: '登录', exact: true }).click();
  await page.waitForURL(/\/me$/);
  r = await walk(page, '/me', names);
  report.push(...r.wrong);
  pages += r.pages;
  // Each staff role.
  for (const [label, token] of Object.entries(node.tokens)) {
    await context.clearCookies();
    await signIn(page, token);
    const start = new URL(page.url()).pathname;
    r = await walk(page, start, names, 60);
    report.push(...r.wrong.map((w) => `[${label}] ${w}`));
    pages += r.pages;
  }
  await context.close();
  console.log(`walked ${pages} pages in both languages`);
  assert.ok(pages > 40, `walked ${pages} pages`);
  assert.deepEqual([...new Set(report)], [], 'every page reads in one language');
});
