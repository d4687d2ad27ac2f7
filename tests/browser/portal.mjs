// Browser scenarios against a running twofold portal, in Debian's chromium (headless) driven
// by playwright-core. tests/integration/test_portal_browser.py starts the daemon, makes the
// users and runs one scenario per call:
//
//   node portal.mjs SCENARIO
//
// Environment: TWOFOLD_PORTAL (origin), TWOFOLD_USER, TWOFOLD_PASSWORD, TWOFOLD_TOTP (base32
// seed), TWOFOLD_ARTIFACTS (where screenshots go), TWOFOLD_SPKI (base64 SHA-256 of the test
// certificate's public key: chromium trusts that key alone, so pages are a secure context),
// TWOFOLD_CLI and TWOFOLD_CONF (the admin command, for invites).
// Prints one JSON object with what the caller checks further (e.g. a new app password);
// exits non-zero with the reason on any unexpected page.

import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (v === undefined || v === '') throw new Error(`${name} is not set`);
  return v;
};

const origin = env('TWOFOLD_PORTAL');
const artifacts = env('TWOFOLD_ARTIFACTS');
mkdirSync(artifacts, { recursive: true });

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

// The TOTP code at now + offset seconds, from oathtool (as the other integration tests).
function totp(secret, offset = 0) {
  const at = Math.floor(Date.now() / 1000) + offset;
  return execFileSync('oathtool', ['--totp', '-b', '-N', `@${at}`, secret]).toString().trim();
}

async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

// A DevTools virtual authenticator ('ctap2' or 'u2f') that says yes at once.
async function authenticator(context, page, protocol) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol,
      transport: 'usb',
      hasResidentKey: false,
      hasUserVerification: false,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}

// Registers a key on the /keys page already shown; returns the text of the result page.
async function addKey(page, label) {
  await page.fill('#key-register input[name=label]', label);
  await Promise.all([page.waitForURL(`${origin}/keys/register`), page.click('#key-add')]);
  return page.textContent('main');
}

async function launch() {
  const browser = await chromium.launch({
    executablePath: process.env.TWOFOLD_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      `--ignore-certificate-errors-spki-list=${env('TWOFOLD_SPKI')}`,
    ],
  });
  // a phone-sized window: the pages must read well there
  const context = await browser.newContext({ viewport: { width: 412, height: 860 } });
  const page = await context.newPage();
  page.on('dialog', (d) => d.accept()); // the confirm() before destructive actions
  return { browser, context, page };
}

// The users the caller made: the first (TWOFOLD_USER...) and a second (TWOFOLD_USER2...).
const users = {
  first: { name: env('TWOFOLD_USER'), password: env('TWOFOLD_PASSWORD'), seed: env('TWOFOLD_TOTP') },
  get second() {
    return { name: env('TWOFOLD_USER2'), password: env('TWOFOLD_PASSWORD2'), seed: env('TWOFOLD_TOTP2') };
  },
};

async function signIn(page, code, user = users.first) {
  await page.goto(`${origin}/`);
  check(new URL(page.url()).pathname === '/signin', 'signed-out visitor sent to /signin');
  await shot(page, 'signin');
  await page.fill('input[name=user]', user.name);
  await page.fill('input[name=password]', user.password);
  await page.fill('input[name=code]', code ?? totp(user.seed));
  await Promise.all([page.waitForURL(`${origin}/`), page.click('button[type=submit]')]);
  check((await page.textContent('.who')) === user.name, 'signed in as the user');
}

async function signOut(page) {
  await Promise.all([page.waitForURL(`${origin}/signin`), page.click('header button')]);
}

// The password alone: the key page (a user with a key). Returns when it is shown.
async function passwordStep(page, user = users.first) {
  await page.goto(`${origin}/signin`);
  await page.fill('input[name=user]', user.name);
  await page.fill('input[name=password]', user.password);
  await Promise.all([page.waitForURL(`${origin}/signin/key`), page.click('button[type=submit]')]);
}

// The key step; resolves to the path the browser ends on ('/' signed in, '/signin' refused).
async function keyStep(page) {
  await Promise.all([
    page.waitForURL((url) => url.pathname !== '/signin/key'),
    page.click('#key-use'),
  ]);
  return new URL(page.url()).pathname;
}

// Registers a key for the signed-in user on /keys and signs out.
async function enrolKey(page, label, user = users.first) {
  await signIn(page, undefined, user);
  await page.goto(`${origin}/keys`);
  const text = await addKey(page, label);
  check(text.includes('Your security key is registered'), `registered: ${text}`);
  await page.goto(`${origin}/`);
  await signOut(page);
}

// Removes the factor shown at path (the first form there posting to path + '/remove'), which
// asks for the password again: a wrong one removes nothing (still() holds at path again; the
// refusal is saved as shotName), then the right one removes it and comes back to path.
async function removeAskingPassword(page, path, shotName, still) {
  const form = `form[action="${path}/remove"]`;
  await page.fill(`${form} input[name=password]`, 'not-the-password');
  await Promise.all([page.waitForURL(`${origin}${path}/remove`), page.click(`${form} button`)]);
  check((await page.textContent('main')).includes('not your password'), 'wrong password refused');
  await shot(page, shotName);
  await page.goto(`${origin}${path}`);
  check(await still(), 'still there after a wrong password');
  await page.fill(`${form} input[name=password]`, users.first.password);
  await Promise.all([page.waitForURL(`${origin}${path}`), page.click(`${form} button`)]);
}

// The approval tests' key: registered from the invite (TWOFOLD_INVITE), then signed in with
// password + key, so the authenticator app's current code is still unused.
async function approvalKeySession(page) {
  await page.goto(env('TWOFOLD_INVITE'));
  await Promise.all([page.waitForURL(`${origin}/keys`), page.click('button[type=submit]')]);
  const text = await addKey(page, 'approval key');
  check(text.includes('Your security key is registered'), `registered: ${text}`);
  await passwordStep(page);
  check((await keyStep(page)) === '/', 'signed in with the key');
}

// A function giving the next held login /approvals shows (one not seen before): its section.
function pendingWatcher(page) {
  const seen = new Set();
  return async (what) => {
    const deadline = Date.now() + 90000;
    for (;;) {
      await page.goto(`${origin}/approvals`);
      for (const s of await page.$$('section.pending')) {
        const id = await s.$eval('input[name=id]', (e) => e.value);
        if (!seen.has(id)) {
          seen.add(id);
          return s;
        }
      }
      check(Date.now() < deadline, `${what}: no held login shown`);
      await page.waitForTimeout(300);
    }
  };
}

// Touches the key for the held login of section s (with a pre-approval of minutes).
async function approveByKey(page, s, minutes = 0) {
  await s.$eval('form.key-approve input[name=minutes]', (e, m) => { e.value = String(m); }, minutes);
  await Promise.all([
    page.waitForURL((url) => url.search === '?done=approved'),
    s.$eval('button.key-use', (b) => b.click()),
  ]);
  check((await page.textContent('main')).includes('Approved'), 'approved by the key');
}

// The ids of the held logins /approvals shows now.
async function pendingIds(page) {
  await page.goto(`${origin}/approvals`);
  return page.$$eval('section.pending input[name=id]', (es) => es.map((e) => e.value));
}

// ---- scenarios ----------------------------------------------------------------------------

const scenarios = {
  // The admin's invite link (TWOFOLD_INVITE): a GET shows a button, the POST opens an
  // enrolment session, the key is registered with the virtual authenticator
  // (TWOFOLD_PROTOCOL: ctap2 or u2f); the link then works no more.
  async 'key-invite'(page, context) {
    const protocol = env('TWOFOLD_PROTOCOL');
    await authenticator(context, page, protocol);
    await page.goto(env('TWOFOLD_INVITE'));
    await shot(page, 'enrol');
    await Promise.all([page.waitForURL(`${origin}/keys`), page.click('button[type=submit]')]);
    await shot(page, 'enrol-keys');
    const text = await addKey(page, `${protocol} key`);
    check(text.includes('Your security key is registered'), `registered: ${text}`);
    await shot(page, 'enrol-done');
    await page.goto(`${origin}/keys`);
    check(new URL(page.url()).pathname === '/signin', 'the enrolment session ended with the key');
    await page.goto(env('TWOFOLD_INVITE'));
    await page.click('button[type=submit]');
    const again = await page.textContent('main');
    check(again.includes('does not work any more'), 'the invite works once');
    return {};
  },

  // Signed in with password + code: add a key, rename it; a registration whose
  // clientDataJSON names another origin is refused; a registration answer sent again (its
  // challenge used up) is refused; remove the key.
  async 'key-manage'(page, context) {
    await authenticator(context, page, 'ctap2');
    await signIn(page);
    await page.goto(`${origin}/keys`);
    // wrong origin: the browser's clientDataJSON, changed on the way (attestation "none"
    // signs nothing over it, so only the origin check can catch this)
    await page.route(`${origin}/keys/register`, async (route) => {
      const form = new URLSearchParams(route.request().postData());
      const cd = JSON.parse(Buffer.from(form.get('client_data'), 'base64url').toString());
      cd.origin = 'https://evil.example';
      form.set('client_data', Buffer.from(JSON.stringify(cd)).toString('base64url'));
      await route.continue({ postData: form.toString() });
    });
    const refused = await addKey(page, 'evil');
    check(refused.includes('was not registered'), `wrong origin refused: ${refused}`);
    await shot(page, 'key-refused');
    await page.unroute(`${origin}/keys/register`);
    // a good one, its request kept
    await page.goto(`${origin}/keys`);
    let kept;
    page.on('request', (req) => {
      if (req.url() === `${origin}/keys/register`) kept = req.postData();
    });
    const ok = await addKey(page, 'blue key');
    check(ok.includes('Your security key is registered'), `registered: ${ok}`);
    await page.goto(`${origin}/keys`);
    await shot(page, 'keys');
    check((await page.textContent('#keys')).includes('blue key'), 'listed');
    await page.fill('#keys input[name=label]', 'red key');
    await Promise.all([page.waitForURL(`${origin}/keys`), page.click('form[action="/keys/rename"] button')]);
    check((await page.textContent('#keys')).includes('red key'), 'renamed');
    await removeAskingPassword(page, '/keys', 'key-remove-refused',
      async () => (await page.textContent('#keys')).includes('red key'));
    check((await page.$('#keys')) === null, 'removed');
    // the same answer again: its challenge is used up (and the key it made is gone)
    const status = await page.evaluate(async (body) => {
      const r = await fetch('/keys/register', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body,
      });
      return r.status;
    }, kept);
    check(status === 422, `replayed registration refused: ${status}`);
    return {};
  },

  // A key registered, then signing in with the password and the key alone
  // (TWOFOLD_PROTOCOL: ctap2 or u2f).
  async 'signin-key'(page, context) {
    const protocol = env('TWOFOLD_PROTOCOL');
    await authenticator(context, page, protocol);
    await enrolKey(page, `${protocol} key`);
    await passwordStep(page);
    await shot(page, 'signin-key');
    check((await page.textContent('.who')) === users.first.name, 'the half session is named');
    check((await page.$('nav')) === null, 'no navigation before the key');
    await page.goto(`${origin}/apppass`);
    check(new URL(page.url()).pathname === '/signin', 'the password alone opens nothing');
    await passwordStep(page);
    check((await keyStep(page)) === '/', 'signed in with the key');
    check((await page.textContent('.who')) === users.first.name, 'signed in as the user');
    await shot(page, 'signin-key-done');
    await page.goto(`${origin}/log`);
    const log = await page.textContent('main');
    check(log.includes('webauthn'), `the key sign-in is in the log: ${log}`);
    check((await page.$$('tr.pending')).length >= 2, 'the password steps are pending rows');
    check(log.includes('password right, security key asked for'), `pending said plainly: ${log}`);
    await shot(page, 'log-pending');
    return {};
  },

  // Key answers the portal must refuse at sign-in, each sent by the browser: a clientDataJSON
  // with another origin, an answer whose challenge was used already, the second user's
  // credential, a cloned key (its counter set back), and a POST without the CSRF token.
  async 'signin-key-refusals'(page, context) {
    const { cdp, authenticatorId } = await authenticator(context, page, 'ctap2');
    await enrolKey(page, 'alice key');
    await enrolKey(page, 'bob key', users.second);
    const results = {};
    const refused = async (what) => {
      const path = await keyStep(page);
      check(path === '/signin', `${what}: refused (${page.url()})`);
      check((await page.textContent('main')).includes('not accepted'), `${what}: said so`);
      results[what] = 'refused';
    };

    // another origin in clientDataJSON (the browser's answer, changed on the way)
    await passwordStep(page);
    await page.route(`${origin}/signin/key`, async (route) => {
      const form = new URLSearchParams(route.request().postData());
      const cd = JSON.parse(Buffer.from(form.get('client_data'), 'base64url').toString());
      cd.origin = 'https://evil.example';
      form.set('client_data', Buffer.from(JSON.stringify(cd)).toString('base64url'));
      await route.continue({ postData: form.toString() });
    });
    await refused('wrong-origin');
    await shot(page, 'signin-key-refused');
    await page.unroute(`${origin}/signin/key`);

    // a good answer, kept; sent again later (with the new session's token) it is refused
    await passwordStep(page);
    let kept;
    const keep = (req) => {
      if (req.url() === `${origin}/signin/key` && req.method() === 'POST') kept = req.postData();
    };
    page.on('request', keep);
    check((await keyStep(page)) === '/', 'a good answer signs in');
    page.off('request', keep);
    await signOut(page);
    await passwordStep(page);
    const replay = new URLSearchParams(kept);
    replay.set('csrf', await page.inputValue('#key-signin input[name=csrf]'));
    await page.evaluate((body) => {
      const f = document.getElementById('key-signin');
      for (const [k, v] of new URLSearchParams(body)) f.elements[k].value = v;
      f.submit();
    }, replay.toString());
    await page.waitForURL((url) => url.pathname === '/signin');
    check((await page.textContent('main')).includes('not accepted'), 'reused challenge refused');
    results['reused-challenge'] = 'refused';

    // the second user's credential answering the first user's challenge
    const toUrl = (b64) => b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    const creds = async () =>
      (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
    await passwordStep(page);
    const allowed = (await page.getAttribute('#key-signin', 'data-allow')).split(' ');
    const other = (await creds()).find((c) => !allowed.includes(toUrl(c.credentialId)));
    check(other !== undefined, 'the second user has a credential of their own');
    await page.evaluate((id) => {
      document.getElementById('key-signin').dataset.allow = id;
    }, toUrl(other.credentialId));
    await refused('other-users-credential');

    // a clone: the first user's credential again, its counter set back
    const mine = (await creds()).find((c) => allowed.includes(toUrl(c.credentialId)));
    check(mine.signCount > 1, `the counter went up: ${mine.signCount}`);
    await cdp.send('WebAuthn.removeCredential', { authenticatorId, credentialId: mine.credentialId });
    await cdp.send('WebAuthn.addCredential', {
      authenticatorId,
      credential: { ...mine, signCount: 1 },
    });
    await passwordStep(page);
    await refused('cloned-key');

    // no CSRF token: the form posted without it
    await passwordStep(page);
    const status = await page.evaluate(async () => {
      const f = document.getElementById('key-signin');
      const body = new URLSearchParams(new FormData(f));
      body.delete('csrf');
      body.set('client_data', 'e30');
      const r = await fetch('/signin/key', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: body.toString(),
      });
      return r.status;
    });
    check(status === 403, `no CSRF token: ${status}`);
    results['no-csrf'] = 'refused';
    return results;
  },

  // Held logins from a mail client (the test's imaplib, password alone), approved here: the
  // key is enrolled from an invite (TWOFOLD_INVITE) and the sign-in is password + key, so the
  // authenticator app's current code is still unused for the second approval. Three logins
  // come one after the other: approved by a key touch, approved with a TOTP code, denied.
  async approvals(page, context) {
    await authenticator(context, page, 'ctap2');
    await approvalKeySession(page);
    const nextPending = pendingWatcher(page);
    const results = {};

    let s = await nextPending('first');
    const said = await s.$eval('p', (e) => e.textContent);
    check(said.includes('IMAP login from 127.0.1.1'), `protocol and address plainly: ${said}`);
    check(said.includes('approval-test'), `the client's IMAP ID name: ${said}`);
    await shot(page, 'approvals');
    await approveByKey(page, s);
    await shot(page, 'approvals-approved');
    results.key = 'approved';

    s = await nextPending('second');
    await s.$eval('input[name=code]', (e, code) => { e.value = code; }, totp(users.first.seed));
    await Promise.all([
      page.waitForURL((url) => url.search === '?done=approved'),
      s.$eval('form[action="/approvals/totp"] button', (b) => b.click()),
    ]);
    results.totp = 'approved';

    s = await nextPending('third');
    await Promise.all([
      page.waitForURL((url) => url.search === '?done=denied'),
      s.$eval('form[action="/approvals/deny"] button', (b) => b.click()),
    ]);
    check((await page.textContent('main')).includes('Denied'), 'denied');
    await shot(page, 'approvals-denied');
    results.deny = 'denied';
    return results;
  },

  // More held logins from mail clients (the test's poplib / imaplib, the password alone, each
  // phase from a network of its own; [auth] approval_wait TWOFOLD_WAIT s, no device grace):
  // a POP3 login approved by a key touch; an IMAP login nobody approves, shown until its wait
  // runs out and gone then (the log shows it waiting meanwhile); three parallel IMAP logins
  // let through by one touch with "allow this network for 10 minutes".
  async 'held-more'(page, context) {
    const { cdp, authenticatorId } = await authenticator(context, page, 'ctap2');
    const signCount = async () =>
      (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials[0].signCount;
    await approvalKeySession(page);
    const nextPending = pendingWatcher(page);
    const said = (s) => s.$eval('p', (e) => e.textContent);
    const results = {};

    let s = await nextPending('pop3');
    check((await said(s)).includes('POP3 login from 127.0.4.1'), `POP3 plainly: ${await said(s)}`);
    await approveByKey(page, s);
    results.pop3 = 'approved';

    s = await nextPending('timeout');
    check((await said(s)).includes('IMAP login from 127.0.5.1'), `IMAP plainly: ${await said(s)}`);
    const id = await s.$eval('input[name=id]', (e) => e.value);
    await shot(page, 'approvals-waiting');
    await page.goto(`${origin}/log`);
    check((await page.textContent('main')).includes('password right, waiting for your approval'),
          'the waiting login is in the log');
    await shot(page, 'log-waiting');
    const wait = Number(env('TWOFOLD_WAIT'));
    const deadline = Date.now() + (wait + 60) * 1000;
    while ((await pendingIds(page)).includes(id)) {
      check(Date.now() < deadline, 'the unapproved login is still shown after its wait');
      await page.waitForTimeout(500);
    }
    // the test's next logins (from 127.0.6.1) may be waiting on this very page already
    check(!(await page.textContent('main')).includes('login from 127.0.5.1'), 'nothing left');
    await shot(page, 'approvals-expired');
    results.timeout = 'gone';

    s = await nextPending('preapproval');
    check((await said(s)).includes('IMAP login from 127.0.6.1'), `IMAP plainly: ${await said(s)}`);
    // three logins wait, one request stands for them (one pending per user)
    check((await page.$$('section.pending')).length === 1, 'one request for the three logins');
    const before = await signCount();
    await approveByKey(page, s, 10);
    await shot(page, 'approvals-preapproved');
    results.touches = (await signCount()) - before;
    // the other two pass by the pre-approval: no request of theirs shows
    results.shownAfter = (await pendingIds(page)).length;
    return results;
  },

  // Sign in with password + code and visit every page once.
  async 'signin-totp'(page) {
    await signIn(page);
    await shot(page, 'overview');
    for (const path of ['/totp', '/apppass', '/recovery', '/log']) {
      await page.goto(`${origin}${path}`);
      check(new URL(page.url()).pathname === path, `${path} shown`);
      await shot(page, path.slice(1));
    }
    check((await page.textContent('main')).includes('portal'), 'the sign-in is in the log');
    await Promise.all([page.waitForURL(`${origin}/signin`), page.click('header button')]);
    await page.goto(`${origin}/apppass`);
    check(new URL(page.url()).pathname === '/signin', 'signed out for good');
    return {};
  },

  // Set up a new authenticator app from the QR page and confirm it with its code.
  async 'totp-enrol'(page) {
    await signIn(page);
    await page.goto(`${origin}/totp`);
    await page.click('form[action="/totp/begin"] button');
    await page.waitForSelector('.qr svg');
    await shot(page, 'totp-qr');
    const secret = (await page.textContent('#totp-secret')).trim();
    check(/^[A-Z2-7]+=*$/.test(secret), 'a base32 key beside the QR code');
    // the sign-in used this 30 s step; the next one is inside the window
    await page.fill('input[name=code]', totp(secret, 30));
    await page.click('form[action="/totp/confirm"] button');
    await page.waitForSelector('p.ok');
    await shot(page, 'totp-done');
    await page.goto(`${origin}/totp`);
    await removeAskingPassword(page, '/totp', 'totp-remove-refused',
      async () => (await page.textContent('main')).includes('An authenticator app is set up'));
    check((await page.textContent('main')).includes('No authenticator app is set up'), 'removed');
    await shot(page, 'totp-removed');
    return { secret };
  },

  // Create an app password: shown once, then only its label.
  async apppass(page) {
    await signIn(page);
    await page.goto(`${origin}/apppass`);
    await page.fill('input[name=label]', 'browser-phone');
    await page.selectOption('select[name=proto]', 'imap');
    await page.click('form[action="/apppass/new"] button');
    await page.waitForSelector('#apppass');
    await shot(page, 'apppass-new');
    const password = (await page.textContent('#apppass')).trim();
    await page.goto(`${origin}/apppass`);
    const list = await page.textContent('main');
    check(list.includes('browser-phone') && !list.includes(password), 'listed, not shown again');
    await shot(page, 'apppass-list');
    return { password };
  },

  // A state-changing POST from a signed-in page without the CSRF token is refused; the same
  // request with the token goes through.
  async csrf(page) {
    await signIn(page);
    const statuses = await page.evaluate(async () => {
      const post = (body) => fetch('/apppass/new', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body,
      }).then((r) => r.status);
      const token = document.querySelector('input[name=csrf]').value;
      return {
        without: await post('label=nocsrf&proto=all&days=0'),
        wrong: await post('label=wrongcsrf&proto=all&days=0&csrf=' + 'A'.repeat(43)),
        with: await post(`label=withcsrf&proto=all&days=0&csrf=${encodeURIComponent(token)}`),
      };
    });
    check(statuses.without === 403, `no token: ${statuses.without}`);
    check(statuses.wrong === 403, `wrong token: ${statuses.wrong}`);
    check(statuses.with === 200, `right token: ${statuses.with}`);
    return statuses;
  },
};

async function main() {
  const name = process.argv[2];
  const scenario = scenarios[name];
  if (scenario === undefined) throw new Error(`unknown scenario ${name}`);
  const { browser, context, page } = await launch();
  try {
    const result = await scenario(page, context);
    console.log(JSON.stringify(result));
  } catch (e) {
    await shot(page, `${name}-failure`).catch(() => {});
    throw e;
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
