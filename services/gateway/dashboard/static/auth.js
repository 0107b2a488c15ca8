// Signing in: a pasted token (static mode, development), or OIDC authorization code with PKCE (S256) as a
// public client. The access token lives in sessionStorage: this tab only, gone when it closes.

const TOKEN = "eb.token";
const PENDING = "eb.pkce";

export async function loadConfig() {
  const answer = await fetch(new URL("../config.json", import.meta.url), { headers: { Accept: "application/json" } });
  if (!answer.ok) throw new Error(`the dashboard's configuration: HTTP ${answer.status}`);
  return answer.json();
}

export function savedToken() { return sessionStorage.getItem(TOKEN); }
export function keepToken(token) { sessionStorage.setItem(TOKEN, token); }
export function forgetToken() { sessionStorage.removeItem(TOKEN); }

/** Who a token names: a JWT's `sub`, else the token's last characters. */
export function describe(token) {
  try {
    const claims = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    if (claims.sub) return claims.sub;
  } catch { /* not a JWT */ }
  return `token …${token.slice(-4)}`;
}

function random(bytes) {
  return b64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

function b64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function discover(issuer) {
  const answer = await fetch(`${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`,
                             { headers: { Accept: "application/json" } });
  if (!answer.ok) throw new Error(`the issuer's discovery document: HTTP ${answer.status}`);
  return answer.json();
}

function redirectUri() { return location.origin + location.pathname; }

/** Off to the issuer; it comes back to this page with ?code=…&state=… */
export async function beginSignIn(config) {
  if (!crypto.subtle) throw new Error("sign-in needs a secure page (https, or http on loopback)");
  const found = await discover(config.issuer);
  const verifier = random(48);
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const state = random(16), nonce = random(16);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, tokenEndpoint: found.token_endpoint,
                                                   redirect: redirectUri(), hash: location.hash }));
  const query = new URLSearchParams({ response_type: "code", client_id: config.client_id, redirect_uri: redirectUri(),
                                      scope: config.scope || "openid", state, nonce, code_challenge: challenge,
                                      code_challenge_method: "S256" });
  if (config.audience) query.set("audience", config.audience);
  location.assign(`${found.authorization_endpoint}?${query}`);
}

/** Back from the issuer: the access token for the code (null when this load is no such return). */
export async function finishSignIn(config) {
  const query = new URLSearchParams(location.search);
  if (!query.has("code") && !query.has("error")) return null;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
  sessionStorage.removeItem(PENDING);
  history.replaceState(null, "", redirectUri() + (pending?.hash || ""));  // the code is spent: off the address bar
  if (query.has("error")) throw new Error(`sign-in refused: ${query.get("error")} ${query.get("error_description") || ""}`);
  if (!pending || query.get("state") !== pending.state) throw new Error("sign-in answer does not match the request (state)");
  const answer = await fetch(pending.tokenEndpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
    body: new URLSearchParams({ grant_type: "authorization_code", code: query.get("code"), redirect_uri: pending.redirect,
                                client_id: config.client_id, code_verifier: pending.verifier }),
  });
  const doc = await answer.json().catch(() => ({}));
  if (!answer.ok || !doc.access_token) {
    throw new Error(`the issuer refused the code: ${doc.error || answer.status} ${doc.error_description || ""}`);
  }
  return doc.access_token;
}
