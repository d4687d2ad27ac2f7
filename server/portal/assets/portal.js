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

function showKeyError(form, e) {
  const p = form.querySelector('#key-error');
  p.textContent = `The key was not registered (${e.name || 'error'}): try again.`;
  p.hidden = false;
}

document.addEventListener('DOMContentLoaded', () => {
  const form = document.getElementById('key-register');
  if (!form) return;
  if (!window.PublicKeyCredential) {
    showKeyError(form, { name: 'this browser has no WebAuthn' });
    return;
  }
  document.getElementById('key-add').addEventListener('click', () => {
    registerKey(form).catch((e) => showKeyError(form, e));
  });
});
