// pages.test.js: drives Debian's chromium (puppeteer-core) over `refold
// serve`'s dashboard and referral pages for the demo's three programs. Every
// number checked on a page is compared with the JSON API's answer to the
// same query; console errors, page errors, failed requests and any request
// to another host fail the test. Run by run.sh (which sets the environment).
'use strict';
const assert = require('assert');
const crypto = require('crypto');
const http = require('http');
const path = require('path');
const puppeteer = require('puppeteer-core');

const { BASE, TOKEN, SECRET, OUT, CHROMIUM, FRAME_PORT, REFOLD, DATA } = process.env;
const { execFileSync } = require('child_process');
const PROGRAMS = ['double_sided', 'points_milestones', 'tiered_coupon'];
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844, deviceScaleFactor: 1, isMobile: true, hasTouch: true };
const base = new URL(BASE);
let checks = 0;

async function api(p, auth = true) {
  const r = await fetch(BASE + p, { headers: auth ? { Authorization: 'Bearer ' + TOKEN } : {} });
  assert.strictEqual(r.status, 200, `GET ${p} answered ${r.status}`);
  return r.json();
}

// The minting example of docs/dashboard.md, as an app would run it.
function mint(program, user, secret) {
  const b = (s) => Buffer.from(s).toString('base64url');
  const exp = Math.floor(Date.now() / 1000) + 30 * 86400;
  const sig = crypto.createHmac('sha256', secret).update(`${program}\n${user}\n${exp}`).digest('hex');
  return `${b(program)}.${b(user)}.${exp}.${sig}`;
}

// A shown number back to the API's integer: "1,234.56" -> 123456, "1,247" -> 1247.
const num = (text) => Number(text.trim().replace(/[,.]/g, ''));
const eq = (got, want, what) => {
  assert.deepStrictEqual(got, want, what);
  checks++;
};

function watch(page, errors, allow = []) {
  page.on('console', (m) => {
    if (m.type() === 'error' && !allow.some((re) => re.test(m.text()))) errors.push('console: ' + m.text() + ' at ' + ((m.location() && m.location().url) || page.url()));
  });
  page.on('pageerror', (e) => errors.push('page error: ' + e.message));
  page.on('requestfailed', (r) => errors.push('request failed: ' + r.url() + ' ' + r.failure().errorText));
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.protocol !== 'data:' && u.hostname !== base.hostname) errors.push('third-party request: ' + r.url());
  });
}

async function newPage(browser, errors, opts = {}) {
  const page = await browser.newPage();
  watch(page, errors, opts.allow);
  await page.setViewport(DESKTOP);
  if (opts.token) await page.evaluateOnNewDocument((t) => sessionStorage.setItem('refold.token', t), TOKEN);
  return page;
}

const rows = (page, sel) => page.$$eval(sel, (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));

const ready = (page, extra) => page.waitForFunction(
  `document.body.dataset.ready === '1' && ${extra}`, { timeout: 15000 });

// Desktop then phone; switching to a mobile viewport reloads the page, so
// the phone shot waits for the page to be drawn again (readyExpr).
async function shoot(page, name, readyExpr) {
  await page.setViewport(DESKTOP);
  await page.screenshot({ path: path.join(OUT, name + '-desktop.png'), fullPage: true });
  await page.setViewport(PHONE);
  await new Promise((r) => setTimeout(r, 300));
  await ready(page, readyExpr);
  // against the phone's width, not innerWidth: a mobile viewport widens its
  // layout viewport to fit content that overflows, so innerWidth grows with it
  const overflow = await page.evaluate((w) => document.documentElement.scrollWidth - w, PHONE.width);
  assert.ok(overflow <= 0, `${name} is ${overflow}px wider than a phone`);
  await page.screenshot({ path: path.join(OUT, name + '-phone.png'), fullPage: true });
  await page.setViewport(DESKTOP);
}


async function checkDashboard(browser, program, errors) {
  const page = await newPage(browser, errors, { token: true });
  const p = '/v1/programs/' + program;
  await page.goto(BASE + '/?program=' + program);
  const drawn = "document.querySelector('#top table') && document.querySelector('#series table') && " +
    "document.querySelector('#cost table') && document.querySelector('#fraud table') && document.querySelector('#ops b') && " +
    "(document.querySelector('#reviews table') || document.querySelector('#reviews-empty'))";
  await ready(page, drawn);
  eq(await page.$eval('#program', (s) => s.value), program, 'program selected');
  const [stats, top, series, ops, health] = await Promise.all([api(p + '/stats?period=all'),
    api(p + '/leaderboard?top=10&by=referrals&period=all'), api(p + '/series?unit=day&n=30'),
    api('/v1/ops'), api('/v1/health')]);
  // funnel
  const shown = await page.$$eval('#funnel dd[data-metric]', (dds) => dds.map((d) => [d.dataset.metric, d.textContent]));
  assert.ok(shown.length >= 14);
  for (const [k, text] of shown) {
    if (k === 'conversion_rate') eq(text, stats.rates.conversion_rate === null ? 'n/a'
      : (Number(stats.rates.conversion_rate) * 100).toFixed(2) + '%', `${program} ${k}`);
    else eq(num(text), stats.funnel[k], `${program} funnel ${k}`);
  }
  // channels
  for (const [ch, shares, clicks, attr] of await rows(page, '#channels tbody tr[data-channel]')) {
    const c = stats.channels[ch];
    eq([num(shares), num(clicks), num(attr)], [c.shares || 0, c.clicks || 0, c.attributed_signups || 0], `${program} channel ${ch}`);
  }
  // cost, CAC, ROI per asset
  const cost = await rows(page, '#cost tbody tr[data-asset]');
  assert.ok(cost.length >= 1, `${program}: no cost rows`);
  for (const [asset, c, cac, roi] of cost) {
    eq(num(c), stats.funnel.reward_cost[asset] || 0, `${program} cost ${asset}`);
    const pc = stats.per_currency[asset] || {};
    // CAC is in minor units per customer: shown in major units as the costs
    eq(cac, pc.cac == null ? 'n/a' : /POINTS$/.test(asset) ? pc.cac : (Number(pc.cac) / 100).toFixed(2), `${program} CAC ${asset}`);
    eq(roi, pc.roi == null ? 'n/a' : pc.roi, `${program} ROI ${asset}`);
  }
  // top referrers
  const board = await rows(page, '#top tbody tr[data-rank]');
  eq(board.map(([r, u, s]) => [num(r), u, num(s)]), top.entries.map((e) => [e.rank, e.user, e.score]), `${program} top`);
  assert.ok(board.length > 0, `${program}: empty board`);
  // fraud checks
  const fraud = await rows(page, '#fraud tbody tr[data-check]');
  const want = [];
  for (const [action, m] of [['rejected', stats.fraud.rejections], ['held for review', stats.fraud.reviews]])
    for (const [check, n] of Object.entries(m).sort()) want.push([check, action, n]);
  eq(fraud.map(([c, a, n]) => [c, a, num(n)]), want, `${program} fraud`);
  // review queue: the rows (oldest first) are the API's
  const queue = await api(p + '/reviews?limit=50');
  const held = await page.$$eval('#reviews tbody tr[data-seq]', (trs) => trs.map((t) => [t.dataset.seq, t.dataset.friend]));
  eq(held, queue.reviews.map((e) => [String(e.seq), e.friend]), `${program} review queue`);
  eq(await page.$$eval('#reviews-empty', (e) => e.length), queue.reviews.length ? 0 : 1, `${program} empty queue`);
  // rewards over time (the chart's numbers) and the bars drawn
  const ser = await rows(page, '#series tbody tr[data-period]');
  eq(ser.map(([pe, g, v, c]) => [pe, num(g), num(v), num(c)]),
    series.periods.map((x) => [x.period, x.rewards, x.voids, x.clawbacks]), `${program} series`);
  eq(await page.$$eval('#chart rect', (r) => r.length), 3 * series.periods.length, `${program} bars`);
  // operations strip
  for (const [id, v] of [['ops-head', ops.fold_records], ['ops-lag', ops.lag], ['ops-dead', ops.dead_letters],
    ['ops-kafka-lag', health.lag]])
  {
    const text = await page.$eval('#' + id, (b) => b.textContent);
    eq(v === null ? text : num(text), v === null ? 'n/a' : v, `${program} ${id}`);
  }
  // the last verify (run.sh ran refold verify --data before serve)
  assert.ok(ops.last_verify && ops.last_verify.ok === true, `${program}: last_verify ${JSON.stringify(ops.last_verify)}`);
  eq(await page.$eval('#ops-verify', (e) => e.textContent),
    `last verify: OK at ${ops.last_verify.at.replace('T', ' ').slice(0, 16)} UTC (${ops.last_verify.partitions.length} partitions)`,
    `${program} last verify`);
  // another period
  await page.select('#period', 'month');
  await ready(page, `document.querySelector('#funnel-period').textContent.includes('month')`);
  const month = await api(p + '/stats?period=month');
  eq(await page.$eval('#funnel-period', (s) => s.textContent), '(' + month.period + ')', `${program} month`);
  eq(num(await page.$eval('#funnel dd[data-metric=shares]', (d) => d.textContent)), month.funnel.shares, `${program} month shares`);
  await page.select('#period', 'all');
  await ready(page, `document.querySelector('#funnel-period').textContent === '(all)'`);
  // user lookup: the top referrer
  const user = top.entries[0].user;
  await page.type('#user', user);
  await page.keyboard.press('Enter');
  await ready(page, "document.querySelector('#user-rank')");
  const [bal, rank, ex] = await Promise.all([api(`${p}/users/${user}/balance`), api(`${p}/users/${user}/rank`),
    api(`${p}/users/${user}/explain`)]);
  assert.ok(ex.records.length > 0, `${program}: explain found nothing for ${user}`);
  // the API's explain is the command's (one library function behind both)
  const cli = JSON.parse(execFileSync(REFOLD, ['explain', '--data', DATA, '--program', program, '--user', user, '--json']));
  eq({ records: ex.records, summary: ex.summary }, { records: cli.records, summary: cli.summary }, `${program} explain = CLI`);
  eq(await rows(page, '#user-out tbody tr[data-seq]'),
    ex.records.map((r) => [r.time.replace('T', ' ').slice(0, 19), r.kind, r.explanation]), `${program} explain`);
  eq(Number(await page.$eval('#user-summary', (e) => e.dataset.referrals)), ex.summary.referrals, `${program} explain referrals`);
  eq((await rows(page, '#user-out tbody tr[data-asset]')).map(([a, ...v]) => [a, ...v.map(num)]),
    bal.balances.map((b) => [b.asset, b.pending, b.available, b.redeemed, b.receivable]), `${program} balances`);
  eq(Number(await page.$eval('#user-rank', (e) => e.dataset.v)), rank.rank, `${program} rank`);
  await shoot(page, 'dashboard-' + program, drawn);
  await page.close();
  return user;
}

async function checkReferral(browser, program, user, errors) {
  const page = await newPage(browser, errors);
  const t = mint(program, user, SECRET);
  await page.goto(BASE + '/ref?t=' + t);
  const drawn = "!document.querySelector('#page').classList.contains('hidden')";
  await ready(page, drawn);
  assert.ok(!page.url().includes(TOKEN));
  const r = await api('/v1/referral?t=' + t, false);
  eq(await page.$eval('#code', (e) => e.textContent), r.code, `${program} code`);
  eq(await page.$eval('#link', (e) => e.value), r.link, `${program} link`);
  eq(num(await page.$eval('#referrals', (e) => e.textContent)), r.rank ? r.rank.score : 0, `${program} referrals`);
  eq(await page.$eval('#rank', (e) => e.dataset.v), r.rank ? String(r.rank.rank) : '', `${program} ref rank`);
  eq((await rows(page, '#balances tbody tr[data-asset]')).map(([a, ...v]) => [a, ...v.map(num)]),
    r.balances.map((b) => [b.asset, b.pending, b.available, b.redeemed]), `${program} ref balances`);
  eq(await page.$$eval('#share a', (as) => as.map((a) => a.dataset.channel)),
    ['email', 'sms', 'whatsapp', 'x', 'facebook'], 'share buttons');
  // each friend's progress: the rows are /v1/referral's friends, newest first
  const friends = await page.$$eval('#friends tbody tr[data-friend]', (trs) => trs.map((t) =>
    [t.dataset.friend, t.dataset.status, t.cells[2].textContent]));
  eq(friends.map(([f, st]) => [f, st]), r.friends.map((f) => [f.friend, f.status]), `${program} friends`);
  for (const [i, [, st, text]] of friends.entries())
    if (st === 'pending' && r.friends[i].pending_until)
      assert.ok(text.includes('until ' + r.friends[i].pending_until.slice(0, 10)), `${program} pending until: ${text}`);
  assert.ok(r.friends.length > 0, `${program}: the top referrer has no friends listed`);
  await shoot(page, 'referral-' + program, drawn);
  await page.close();
  return t;
}

async function checkLogin(browser, errors) {
  // the first load has no token: the API's 401 is expected, then the form
  const page = await newPage(browser, errors, { allow: [/status of 401/] });
  await page.goto(BASE + '/');
  await page.waitForSelector('#login:not(.hidden)');
  await shoot(page, 'login', "!document.querySelector('#login').classList.contains('hidden')");
  await page.type('#token', TOKEN);
  await page.keyboard.press('Enter');
  await ready(page, "document.querySelector('#top table')");
  assert.ok(!page.url().includes(TOKEN), 'the token went into the URL');
  eq(await page.evaluate(() => sessionStorage.getItem('refold.token')), TOKEN, 'token kept for the tab');
  const fcp = await page.evaluate(() => (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime);
  console.log(`dashboard first contentful paint: ${Math.round(fcp)} ms`);
  await page.close();
}

async function checkNoScript(browser, t, errors) {
  const page = await browser.newPage();
  await page.setJavaScriptEnabled(false);
  await page.goto(BASE + '/');
  for (const href of ['/v1/health', '/v1/ops', '/v1/programs']) assert.ok(await page.$(`a[href="${href}"]`), href);
  await page.goto(BASE + '/ref?t=' + t);
  assert.ok(await page.$(`a[href="/v1/referral?t=${t}"]`), 'referral noscript link');
  checks += 4;
  await page.close();
}

async function checkIframe(browser, t, errors) {
  const server = http.createServer((req, res) => {
    res.setHeader('Content-Type', 'text/html');
    res.end(`<!doctype html><title>shop</title><h1>Shop account</h1>
      <iframe title="referrals" src="${BASE}/ref?t=${t}" width="400" height="800"></iframe>`);
  });
  await new Promise((r) => server.listen(Number(FRAME_PORT), '127.0.0.1', r));
  const page = await newPage(browser, errors);
  await page.goto(`http://127.0.0.1:${FRAME_PORT}/`);
  const el = await page.waitForSelector('iframe');
  const frame = await el.contentFrame();
  await frame.waitForFunction("document.body && document.body.dataset.ready === '1'", { timeout: 15000 });
  assert.ok((await frame.$eval('#code', (e) => e.textContent)).length > 0, 'iframe shows the code');
  checks++;
  await page.close();
  server.close();
}

(async () => {
  const started = Date.now();
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--font-render-hinting=none'] });
  const errors = [];
  try {
    await checkLogin(browser, errors);
    let t = null;
    for (const program of PROGRAMS) {
      const user = await checkDashboard(browser, program, errors);
      t = await checkReferral(browser, program, user, errors);
    }
    await checkNoScript(browser, t, errors);
    await checkIframe(browser, t, errors);
  } catch (e) {
    for (const pg of await browser.pages()) {
      const u = pg.url();
      if (u.startsWith('http')) {
        await pg.screenshot({ path: path.join(OUT, 'failure.png'), fullPage: true }).catch(() => {});
        console.error('page ' + u + ': ' + (await pg.evaluate(() => document.body.innerText.slice(0, 2000)).catch(() => '?')));
      }
    }
    if (errors.length) console.error('browser errors:\n  ' + errors.join('\n  '));
    throw e;
  } finally {
    await browser.close();
  }
  if (errors.length) {
    console.error('browser errors:\n  ' + errors.join('\n  '));
    process.exit(1);
  }
  console.log(`pages: ${checks} checks passed for ${PROGRAMS.length} programs in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${OUT}`);
})().catch((e) => {
  console.error(e.stack || e);
  process.exit(1);
});
