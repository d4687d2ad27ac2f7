// twofold portal: the only script the pages load (the Content-Security-Policy allows no
// other and no inline code). It asks before destructive actions.
'use strict';

document.addEventListener('DOMContentLoaded', () => {
  for (const form of document.querySelectorAll('form[data-confirm]')) {
    form.addEventListener('submit', (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
});

// ---- security keys (WebAuthn) ----

const b64url = {
  decode(s) {
    const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  },
  encode(buf) {
    let bin = '';
    for (const b of new Uint8Array(buf)) bin += String.fromCharCode(b);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  },
};

// The registration form carries the options in data- attributes; the answer goes back in its
// hidden fields, as an ordinary form post.
async function registerKey(form) {
  const d = form.dataset;
  const exclude = d.exclude ? d.exclude.split(' ') : [];
  const cred = await navigator.credentials.create({
    publicKey: {
      challenge: b64url.decode(d.challenge),
      rp: { id: d.rpId, name: 'twofold' },
      user: { id: b64url.decode(d.userId), name: d.userName, displayName: d.userName },
      pubKeyCredParams: [-7, -8, -257].map((alg) => ({ type: 'public-key', alg })),
      excludeCredentials: exclude.map((id) => ({ type: 'public-key', id: b64url.decode(id) })),
      authenticatorSelection: { userVerification: 'discouraged' },
      attestation: 'none',
      timeout: 120000,
    },
  });
  form.elements.client_data.value = b64url.encode(cred.response.clientDataJSON);
  form.elements.attestation.value = b64url.encode(cred.response.attestationObject);
  form.elements.cred_id.value = b64url.encode(cred.rawId);
  form.submit();
}

// A sign-in or an approval: the form names the challenge and the credentials the key may
// use; the assertion goes back in its hidden fields.
async function assertKey(form) {
  const d = form.dataset;
  const allow = d.allow ? d.allow.split(' ') : [];
  const cred = await navigator.credentials.get({
    publicKey: {
      challenge: b64url.decode(d.challenge),
      rpId: d.rpId,
      allowCredentials: allow.map((id) => ({ type: 'public-key', id: b64url.decode(id) })),
      userVerification: 'discouraged',
      timeout: 120000,
    },
  });
  const r = cred.response;
  form.elements.client_data.value = b64url.encode(r.clientDataJSON);
  form.elements.auth_data.value = b64url.encode(r.authenticatorData);
  form.elements.sig.value = b64url.encode(r.signature);
  form.elements.cred_id.value = b64url.encode(cred.rawId);
  form.elements.user_handle.value = r.userHandle ? b64url.encode(r.userHandle) : '';
  form.submit();
}

function showKeyError(form, what, e) {
  const p = form.querySelector('.key-error');
  p.textContent = `${what} (${e.name || 'error'}): try again.`;
  p.hidden = false;
}

// Each form with a key ceremony (one per held login on the approvals page): its button
// starts it.
const keyForms = [
  { forms: '#key-register', button: '#key-add', run: registerKey, what: 'The key was not registered' },
  { forms: '#key-signin', button: '#key-use', run: assertKey, what: 'The key did not answer' },
  { forms: 'form.key-approve', button: 'button.key-use', run: assertKey, what: 'The key did not answer' },
];

document.addEventListener('DOMContentLoaded', () => {
  for (const k of keyForms) {
    for (const form of document.querySelectorAll(k.forms)) {
      if (!window.PublicKeyCredential) {
        showKeyError(form, k.what, { name: 'this browser has no WebAuthn' });
        continue;
      }
      form.querySelector(k.button).addEventListener('click', () => {
        k.run(form).catch((e) => showKeyError(form, k.what, e));
      });
    }
  }
});
