// dashboard.js: the owner dashboard. Reads the serve token from this tab's
// sessionStorage (asked for by the sign-in form on a 401), fetches the JSON
// API and draws every number from its answers.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const KEY = 'refold.token';
  let token = sessionStorage.getItem(KEY) || '';
  const api = (path) => RF.api(path, token);
  const enc = encodeURIComponent;
  const state = { program: '', period: 'all', by: 'referrals', unit: 'day' };
  const UNIT_N = { day: 30, week: 12, month: 12 };
  let pending = 0;
  const busy = (d) => {
    pending += d;
    document.body.dataset.ready = pending === 0 ? '1' : '0';
  };
  const fail = (e) => {
    if (e.status === 401) return showLogin(token ? 'That token was refused.' : '');
    $('err').textContent = 'Could not load: ' + e.message;
  };
  const track = async (fn) => {
    busy(1);
    try { await fn(); } catch (e) { fail(e); } finally { busy(-1); }
  };

  function showLogin(msg) {
    $('dash').classList.add('hidden');
    $('controls').classList.add('hidden');
    $('login').classList.remove('hidden');
    $('login-err').textContent = msg || '';
    $('token').focus();
  }

  const FUNNEL = [
    ['shares', 'Shares'], ['clicks', 'Clicks'], ['signups', 'Signups'],
    ['attributed_signups', 'Attributed signups'], ['purchases', 'Purchases'],
    ['referred_purchases', 'Referred purchases'], ['customers', 'Customers'],
    ['referred_customers', 'Referred customers'], ['rewards', 'Rewards'],
    ['successful_referrals', 'Successful referrals'], ['voids', 'Voided'],
    ['clawbacks', 'Clawed back'], ['referrers', 'Referrers'], ['repeat_referrers', 'Repeat referrers'],
  ];

  function drawStats(s) {
    $('funnel-period').textContent = '(' + s.period + ')';
    const dl = RF.clear($('funnel'));
    for (const [k, label] of FUNNEL)
      dl.append(RF.el('div', {}, RF.el('dt', { text: label }),
        RF.el('dd', { 'data-metric': k, 'data-v': s.funnel[k], text: RF.fmtInt(s.funnel[k]) })));
    const rate = s.rates.conversion_rate;
    dl.append(RF.el('div', {}, RF.el('dt', { text: 'Conversion' }),
      RF.el('dd', { 'data-metric': 'conversion_rate', 'data-v': rate,
        text: rate === null ? 'n/a' : (Number(rate) * 100).toFixed(2) + '%' })));
    const chRows = Object.entries(s.channels).sort().map(([ch, c]) => ({
      attrs: { 'data-channel': ch },
      cells: [ch, { text: RF.fmtInt(c.shares || 0), v: c.shares || 0, n: 1 },
        { text: RF.fmtInt(c.clicks || 0), v: c.clicks || 0, n: 1 },
        { text: RF.fmtInt(c.attributed_signups || 0), v: c.attributed_signups || 0, n: 1 }],
    }));
    RF.clear($('channels')).append(RF.table('Funnel by channel',
      ['Channel', { text: 'Shares', n: 1 }, { text: 'Clicks', n: 1 }, { text: 'Attributed signups', n: 1 }], chRows));
    const cost = s.funnel.reward_cost, pc = s.per_currency;
    const assets = [...new Set([...Object.keys(cost), ...Object.keys(pc)])].sort();
    RF.clear($('cost')).append(RF.table('Reward cost, CAC and ROI per asset',
      ['Asset', { text: 'Reward cost', n: 1 }, { text: 'CAC', n: 1 }, { text: 'ROI', n: 1 }],
      assets.map((a) => ({
        attrs: { 'data-asset': a },
        cells: [a, { text: RF.fmtAmount(a, cost[a] || 0), v: cost[a] || 0, n: 1 },
          { text: pc[a] && pc[a].cac !== null ? RF.fmtRatioAmount(a, pc[a].cac) : 'n/a', v: pc[a] ? pc[a].cac : null, n: 1 },
          { text: pc[a] && pc[a].roi !== null ? pc[a].roi : 'n/a', v: pc[a] ? pc[a].roi : null, n: 1 }],
      }))));
    const fr = [];
    for (const [action, m] of [['rejected', s.fraud.rejections], ['held for review', s.fraud.reviews]])
      for (const [check, n] of Object.entries(m).sort())
        fr.push({ attrs: { 'data-check': check, 'data-action': action },
          cells: [check, action, { text: RF.fmtInt(n), v: n, n: 1 }] });
    RF.clear($('fraud')).append(RF.table('Fraud checks by check and action',
      ['Check', 'Action', { text: 'Count', n: 1 }], fr));
  }

  function drawReviews(r) {
    const box = RF.clear($('reviews'));
    if (!r.reviews.length) {
      box.append(RF.el('p', { id: 'reviews-empty', text: 'Nothing is held for review.' }));
      return;
    }
    box.append(RF.table('Review queue, oldest first',
      ['Held since', 'Friend', 'Referrer', { text: 'Rewards held', n: 1 }, 'Reason', 'Checks'],
      r.reviews.map((e) => ({ attrs: { 'data-seq': e.seq, 'data-friend': e.friend },
        cells: [new Date(e.held_at_ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC', e.friend,
          e.referrer || 'none',
          { text: e.held.length ? e.held.map((h) => RF.fmtAmount(h.asset, h.amount) + ' ' + h.asset).join(', ') : 'none',
            v: e.rewards, n: 1 },
          e.reason, e.checks.split(',').join(', ')] }))));
    if (r.more)
      box.append(RF.el('p', { class: 'muted', text: `The oldest ${r.limit} are shown: more are waiting.` }));
  }

  function drawTop(b) {
    const unit = b.by === 'value' ? b.asset : 'referrals';
    RF.clear($('top')).append(RF.table('Top referrers',
      [{ text: 'Rank', n: 1 }, 'User', { text: b.by === 'value' ? 'Value (' + b.asset + ')' : 'Referrals', n: 1 }],
      b.entries.map((e) => ({
        attrs: { 'data-rank': e.rank },
        cells: [{ text: RF.fmtInt(e.rank), v: e.rank, n: 1 }, e.user,
          { text: b.by === 'value' ? RF.fmtAmount(unit, e.score) : RF.fmtInt(e.score), v: e.score, n: 1 }],
      }))), RF.el('p', { class: 'muted', text: RF.fmtInt(b.users) + ' on this board (top 10 shown)' }));
  }

  function drawSeries(s) {
    const labels = s.periods.map((p) => p.period.replace(/^[a-z]+:/, ''));
    const ser = [['granted', 'rewards'], ['voided', 'voids'], ['clawed back', 'clawbacks']].map(
      ([name, k]) => ({ name, values: s.periods.map((p) => p[k]) }));
    RF.clear($('chart')).append(RF.barChart('Rewards granted, voided and clawed back per ' + s.unit, labels, ser));
    RF.clear($('series')).append(RF.table('Rewards per ' + s.unit,
      ['Period', { text: 'Granted', n: 1 }, { text: 'Voided', n: 1 }, { text: 'Clawed back', n: 1 }],
      s.periods.map((p) => ({ attrs: { 'data-period': p.period },
        cells: [p.period, { text: RF.fmtInt(p.rewards), v: p.rewards, n: 1 },
          { text: RF.fmtInt(p.voids), v: p.voids, n: 1 }, { text: RF.fmtInt(p.clawbacks), v: p.clawbacks, n: 1 }] }))));
  }

  // the last `refold verify --data`: OK, or the partitions at fault with their bad seq
  const verifyText = (v) => {
    if (v === null) return 'not recorded (run refold verify --data DIR)';
    if (v.error) return v.error;
    const when = v.at.replace('T', ' ').slice(0, 16) + ' UTC';
    if (v.ok) return `OK at ${when} (${v.partitions.length} partitions)`;
    const bad = v.partitions.filter((p) => !p.ok)
      .map((p) => `partition ${p.partition}` + (p.bad_seq !== undefined ? ` seq ${p.bad_seq}` : ''));
    return `FAULT at ${when}: ${bad.join(', ')}`;
  };

  function drawOps(o, h) {
    const box = RF.clear($('ops'));
    const item = (label, id, v, cls) => box.append(RF.el('span', {}, label + ' ',
      RF.el('b', { id, 'data-v': v, class: cls, text: RF.fmtInt(v) })));
    item('fold records', 'ops-head', o.fold_records);
    item('projection lag (records)', 'ops-lag', o.lag, o.lag === 0 ? 'ok' : 'warn');
    item('dead letters', 'ops-dead', o.dead_letters, o.dead_letters ? 'warn' : 'ok');
    item('projection lag behind refold.ledger', 'ops-kafka-lag', h.lag);
    box.append(RF.el('span', { class: 'muted', text: 'fold read at ' + o.fold_read_at.slice(11, 19) + ' UTC' }));
    box.append(RF.el('span', { id: 'ops-verify', class: 'muted', text: 'last verify: ' + verifyText(o.last_verify) }));
    const det = RF.el('details', {}, RF.el('summary', { text: 'Per partition' }));
    det.append(RF.table('Per partition', [{ text: 'Partition', n: 1 }, { text: 'Fold head seq', n: 1 },
      { text: 'Projection applied seq', n: 1 }, { text: 'Lag', n: 1 }, { text: 'Dead letters', n: 1 }],
      o.partitions.map((p) => ({ attrs: { 'data-partition': p.partition },
        cells: [{ text: String(p.partition), n: 1 }, { text: RF.fmtInt(p.fold_head_seq), v: p.fold_head_seq, n: 1 },
          { text: RF.fmtInt(p.projection_applied_seq), v: p.projection_applied_seq, n: 1 },
          { text: RF.fmtInt(p.lag), v: p.lag, n: 1 }, { text: RF.fmtInt(p.dead_letters), v: p.dead_letters, n: 1 }] }))));
    box.append(det);
  }

  const loadOps = () => track(async () => {
    const [o, h] = await Promise.all([api('/v1/ops'), api('/v1/health')]);
    drawOps(o, h);
  });
  const base = () => '/v1/programs/' + enc(state.program);
  const loadStats = () => track(async () => drawStats(await api(base() + '/stats?period=' + enc(state.period))));
  const loadReviews = () => track(async () => drawReviews(await api(base() + '/reviews?limit=50')));
  const loadTop = () => track(async () =>
    drawTop(await api(base() + '/leaderboard?top=10&by=' + state.by + '&period=' + enc(state.period))));
  const loadSeries = () => track(async () =>
    drawSeries(await api(base() + '/series?unit=' + state.unit + '&n=' + UNIT_N[state.unit])));

  async function lookup(user) {
    const out = RF.clear($('user-out'));
    const u = base() + '/users/' + enc(user);
    const [bal, rank, ex] = await Promise.all([
      api(u + '/balance'),
      api(u + '/rank').catch((e) => (e.status === 404 ? null : Promise.reject(e))),
      api(u + '/explain'),
    ]);
    out.append(RF.el('h3', { text: 'Balances' }));
    out.append(RF.table('Balances of ' + user, ['Asset', { text: 'Pending', n: 1 }, { text: 'Available', n: 1 },
      { text: 'Redeemed', n: 1 }, { text: 'Receivable', n: 1 }],
      bal.balances.map((b) => ({ attrs: { 'data-asset': b.asset },
        cells: [b.asset, ...['pending', 'available', 'redeemed', 'receivable'].map((k) =>
          ({ text: RF.fmtAmount(b.asset, b[k]), v: b[k], n: 1 }))] }))));
    out.append(RF.el('p', { id: 'user-rank', 'data-v': rank ? rank.rank : null },
      rank ? `Rank ${RF.fmtInt(rank.rank)} of ${RF.fmtInt(rank.users)} by referrals (${RF.fmtInt(rank.score)})`
        : 'Not on the referrals board.'));
    const s = ex.summary;
    out.append(RF.el('h3', { text: 'Why (refold explain)' }));
    out.append(RF.el('p', { id: 'user-summary', 'data-referrals': s.referrals, 'data-refused': s.referrals_refused,
      text: (s.referred_by ? `Referred by ${s.referred_by} (${s.attribution}). ` : `Not referred (${s.attribution}). `) +
        `Referrals as referrer: ${RF.fmtInt(s.referrals)} attributed, ${RF.fmtInt(s.referrals_refused)} refused; ` +
        `rewards refused: ${RF.fmtInt(s.rewards_refused)}.` }));
    out.append(RF.el('details', {}, RF.el('summary', { text: `What each record decided (${RF.fmtInt(ex.records.length)} records)` }),
      RF.table('What each record decided', ['Time', 'Kind', 'What it decided'],
        ex.records.map((r) => ({ attrs: { 'data-seq': r.partition + ':' + r.seq },
          cells: [r.time.replace('T', ' ').slice(0, 19), r.kind, r.explanation] })))));
    if (ex.truncated)
      out.append(RF.el('p', { class: 'muted', text: `First ${ex.records.length} records shown: refold explain has them all.` }));
  }

  function loadProgram() {
    $('err').textContent = '';
    return [loadStats(), loadTop(), loadSeries(), loadReviews()];
  }

  async function start() {
    busy(1);
    try {
      const { programs } = await api('/v1/programs');
      $('login').classList.add('hidden');
      $('dash').classList.remove('hidden');
      $('controls').classList.remove('hidden');
      $('logout').classList.toggle('hidden', !token);
      const sel = RF.clear($('program'));
      programs.forEach((p) => sel.append(RF.el('option', { value: p, text: p })));
      const want = new URLSearchParams(location.search).get('program');
      state.program = programs.includes(want) ? want : programs[0] || '';
      sel.value = state.program;
      // the program's sections first: the operations strip reads the fold
      // ledgers, which the server may still be opening
      if (state.program) await Promise.all(loadProgram());
      loadOps();
    } catch (e) { fail(e); } finally { busy(-1); }
  }

  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    token = $('token').value.trim();
    sessionStorage.setItem(KEY, token);
    $('token').value = '';
    start();
  });
  $('logout').addEventListener('click', () => { sessionStorage.removeItem(KEY); token = ''; showLogin(''); });
  $('program').addEventListener('change', (e) => { state.program = e.target.value; loadProgram(); });
  $('period').addEventListener('change', (e) => { state.period = e.target.value; loadStats(); loadTop(); });
  $('by').addEventListener('change', (e) => { state.by = e.target.value; loadTop(); });
  $('unit').addEventListener('change', (e) => { state.unit = e.target.value; loadSeries(); });
  $('user-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const u = $('user').value.trim();
    if (u) track(() => lookup(u));
  });
  start();
})();
