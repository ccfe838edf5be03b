// ref.js: one referrer's page: reads the signed token from the page URL
// (?t=), fetches /v1/referral with it, shows the code, the tracking link with
// copy and share buttons, each friend's progress, rank and balances. Share buttons are links the
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
  // a friend's progress in words: signed up, purchased, reward pending until
  // DATE, available (reversed: the reward was taken back)
  const progress = (f) => {
    const s = { signed_up: 'Signed up', purchased: 'Purchased', available: 'Reward available',
      reversed: 'Reward cancelled' }[f.status];
    const text = f.status === 'pending'
      ? 'Reward pending' + (f.pending_until ? ' until ' + f.pending_until.slice(0, 10) : '')
      : s || f.status;
    return f.in_review ? text + ' (in review)' : text;
  };
  function drawFriends(r) {
    const box = $('friends');
    if (!r.friends.length) {
      box.append(RF.el('p', { id: 'friends-none', class: 'muted', text: 'No friend has signed up with your link yet.' }));
      return;
    }
    box.append(RF.table('Your friends, most recent first', ['Friend', 'Since', 'Progress',
      { text: 'Your reward', n: 1 }],
      r.friends.map((f) => ({ attrs: { 'data-friend': f.friend, 'data-status': f.status },
        cells: [f.friend, f.since.slice(0, 10), progress(f),
          { text: f.reward ? RF.fmtAmount(f.reward.asset, f.reward.amount) + ' ' + f.reward.asset : '',
            v: f.reward ? f.reward.amount : null, n: 1 }] }))));
    if (r.friends_total > r.friends.length)
      box.append(RF.el('p', { class: 'muted',
        text: `Your ${r.friends.length} most recent of ${RF.fmtInt(r.friends_total)} friends.` }));
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
      drawFriends(r);
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
