// ref.js: one referrer's page: reads the signed token from the page URL
// (?t=), fetches /v1/referral with it, shows the code, the tracking link with
// copy and share buttons, rank and balances. Share buttons are links the
// visitor follows; the page itself talks to nobody but refold.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const t = new URLSearchParams(location.search).get('t') || '';
  const share = (link, code) => {
    const text = 'Join with my code ' + code + ': ' + link;
    const u = encodeURIComponent(link), x = encodeURIComponent(text);
    return [
      ['Email', 'mailto:?subject=' + encodeURIComponent('An invitation') + '&body=' + x],
      ['SMS', 'sms:?&body=' + x],
      ['WhatsApp', 'https://wa.me/?text=' + x],
      ['X', 'https://x.com/intent/post?text=' + x],
      ['Facebook', 'https://www.facebook.com/sharer/sharer.php?u=' + u],
    ];
  };
  async function copy(link) {
    try {
      await navigator.clipboard.writeText(link);
      $('copied').textContent = 'Link copied.';
    } catch (e) { // inside an iframe without clipboard permission
      $('link').select();
      $('copied').textContent = 'Press Ctrl+C (or long-press) to copy the selected link.';
    }
  }
  async function start() {
    try {
      if (!t) throw new Error('this page needs its link (it carries a token)');
      const r = await RF.api('/v1/referral?t=' + encodeURIComponent(t));
      $('code').textContent = r.code || 'no code yet';
      $('link').value = r.link || '';
      $('copy').disabled = !r.link;
      $('copy').addEventListener('click', () => copy(r.link));
      const box = $('share');
      if (r.link)
        for (const [name, href] of share(r.link, r.code))
          box.append(RF.el('a', { class: 'btn ghost', href, target: '_blank', rel: 'noopener noreferrer',
            'data-channel': name.toLowerCase(), text: name }));
      $('referrals').textContent = r.rank ? RF.fmtInt(r.rank.score) : '0';
      $('referrals').dataset.v = r.rank ? r.rank.score : 0;
      $('rank').textContent = r.rank ? RF.fmtInt(r.rank.rank) + ' of ' + RF.fmtInt(r.rank.users) : 'not ranked yet';
      $('rank').dataset.v = r.rank ? r.rank.rank : '';
      $('balances').append(RF.table('Your balances', ['Asset', { text: 'Pending', n: 1 },
        { text: 'Available', n: 1 }, { text: 'Redeemed', n: 1 }],
        r.balances.map((b) => ({ attrs: { 'data-asset': b.asset },
          cells: [b.asset, ...['pending', 'available', 'redeemed'].map((k) =>
            ({ text: RF.fmtAmount(b.asset, b[k]), v: b[k], n: 1 }))] }))));
      $('expires').textContent = r.expires_at.slice(0, 10);
      $('page').classList.remove('hidden');
    } catch (e) {
      $('err').textContent = 'Cannot show this page: ' + e.message;
    } finally {
      document.body.dataset.ready = '1';
    }
  }
  start();
})();
